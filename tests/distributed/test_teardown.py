"""After the cluster of test_scenarios.py stopped: nothing of it is left on the machine."""

from __future__ import annotations

import psutil
import pytest

from tests.deployment._deployment import SUMMARY
from tests.distributed import _hosts

pytestmark = pytest.mark.distributed


def test_nothing_left_behind() -> None:
    if "left_after_stop" not in SUMMARY:
        pytest.skip("no cluster ran in this session")
    assert SUMMARY["left_after_stop"] == []
    assert _hosts.namespaces() == []
    assert _hosts.links() == []
    children = [child for child in psutil.Process().children(recursive=True) if child.is_running()]
    assert [child.cmdline()[:3] for child in children if child.status() != psutil.STATUS_ZOMBIE] == []
