"""Helpers shared by tests and benchmarks, imported as ``tests.support.<module>`` (no sys.path edits)."""
