"""Every physiology target (data/physiology_targets.yaml) through the public simulate function:
the calibration targets within their published 95 % CI or stated tolerance, and the
check-only predictions likewise. Research and education only; not medical advice."""

from __future__ import annotations

import pytest

from sermsim.physiology.targets import evaluate, load_targets

TARGETS = load_targets()


@pytest.mark.parametrize("target", TARGETS, ids=[t.id for t in TARGETS])
def test_target_within_interval(target):
    outcome = evaluate(target)
    assert outcome.within, (
        f"{target.id}: simulated {outcome.simulated:.3f}, published {target.value} "
        f"[{target.low}, {target.high}]"
    )
