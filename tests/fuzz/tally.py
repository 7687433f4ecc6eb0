"""The fuzz tests' honest count: every example a property test executed, and every one that
broke its property (shrinking re-runs a failing input, so one bug may count several times).
``conftest.py`` writes it to ``$SERMSIM_FUZZ_REPORT`` at the end of the session."""

from __future__ import annotations

from collections import Counter

TRIED: Counter[str] = Counter()
FAILED: Counter[str] = Counter()
