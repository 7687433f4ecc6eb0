"""Writes the fuzz tally (tests/fuzz/tally.py) as JSON to ``$SERMSIM_FUZZ_REPORT`` when that is
set (``make fuzz``; ``scripts/fuzz_summary.py`` prints it)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.fuzz import tally

_START = time.perf_counter()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    report = os.environ.get("SERMSIM_FUZZ_REPORT")
    if not report:
        return
    data = {
        "tried": sum(tally.TRIED.values()),
        "failed": sum(tally.FAILED.values()),
        "seconds": round(time.perf_counter() - _START, 1),
        "pytest_exit_status": int(exitstatus),
        "per_test": {
            name: {"tried": tally.TRIED[name], "failed": tally.FAILED[name]}
            for name in sorted(tally.TRIED)
        },
    }
    path = Path(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
