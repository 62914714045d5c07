"""Thread settings: passive OpenMP waiting by default, the user's own policy kept, --threads validated."""

from __future__ import annotations

import pytest

from proxysort.errors import UsageError
from proxysort.threads import prepare_environment, set_threads


def test_passive_waiting_unless_the_user_chose_a_policy():
    env: dict[str, str] = {}
    prepare_environment(env)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    prepare_environment(env)
    assert env["OMP_WAIT_POLICY"] == "ACTIVE"


def test_threads_are_applied_and_validated():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
        set_threads(None)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(UsageError, match="`threads`"):
        set_threads(0)
