"""proxysort's tests: one file per module's behaviour; shared helpers live in :mod:`tests.support`."""
