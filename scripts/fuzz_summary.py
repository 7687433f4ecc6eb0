"""Print the tally `make fuzz` leaves (tests/fuzz/conftest.py writes it): one summary line,
then the count per property test.

    python scripts/fuzz_summary.py .pytest_cache/fuzz.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else ".pytest_cache/fuzz.json")
    if not path.is_file():
        print(f"fuzz: no tally at {path} (did pytest start?)")
        return 1
    data = json.loads(path.read_text(encoding="utf-8"))
    for name, counts in data["per_test"].items():
        print(f"  {name}: {counts['tried']} tried, {counts['failed']} failed")
    print(f"fuzz: {data['tried']} cases tried, {data['failed']} failed ({data['seconds']:g} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
