"""A short randomized fault run (the long one is `make chaos`)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from chaos import Chaos  # noqa: E402

pytestmark = pytest.mark.multihost


@pytest.mark.timeout(300)
def test_short_chaos_run_loses_nothing_and_runs_nothing_twice(tmp_path):
    report = Chaos(tmp_path, seed=20261130, commands=100, hosts=5).run()
    print(report.summary())
    assert report.duplicates == []
    assert report.lost == []
    assert report.broadcasts_missed == []
    assert sum(report.faults.values()) > 0
