"""Every physiology target (data/physiology_targets.yaml) through the public simulate function:
the calibration targets within their published 95 % CI or stated tolerance, and the
check-only predictions likewise. Research and education only; not medical advice."""

from __future__ import annotations

import pytest

from sermsim.physiology.targets import evaluate, load_targets

TARGETS = load_targets()

# Known misses, each with its reason; strict, so meeting one later fails until it is removed.
KNOWN_MISSES = {
    "katz_lh": (
        "LH rises 1.6 -> 4.6 IU/L on clomiphene 25 mg every other day vs 6.8 published: with the "
        "GnRH feedback constants set by women's life-stage levels, clomiphene's partial "
        "hypothalamic agonism (zuclomiphene) caps how far the male drive can rise while "
        "testosterone still reaches 477 ng/dL (485 published)"
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
