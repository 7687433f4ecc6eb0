"""Every physiology target (data/physiology_targets.yaml) through the public simulate function:
the calibration targets within their published 95 % CI or stated tolerance, and the
check-only predictions likewise. Research and education only; not medical advice."""

from __future__ import annotations

import pytest

from sermsim.physiology.targets import evaluate, load_targets

TARGETS = load_targets()

# Known misses, each with its reason; strict, so meeting one later fails until it is removed.
KNOWN_MISSES = {
    "swan_neck_transmenopause": (
        "a prediction, not fitted: the femoral neck loses 7.8 % across the transition vs 5.8 % "
        "in SWAN, because one turnover overshoot drives every site while the cortical-rich neck "
        "accelerates less than the trabecular spine (site-specific overshoot not modelled)"
    ),
}


def _param(target):
    if target.id in KNOWN_MISSES:
        return pytest.param(
            target,
            id=target.id,
            marks=pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[target.id]),
        )
    return pytest.param(target, id=target.id)


@pytest.mark.parametrize("target", [_param(t) for t in TARGETS])
def test_target_within_interval(target):
    outcome = evaluate(target)
    assert outcome.within, (
        f"{target.id}: simulated {outcome.simulated:.3f}, published {target.value} "
        f"[{target.low}, {target.high}]"
    )
