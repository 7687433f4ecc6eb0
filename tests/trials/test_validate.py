"""`sermsim validate` on the outcomes issue's list (P-1, MORE, SMART, ospemifene endometrium):
the model's expectation within the published 95 % CI (or stated tolerance) for at least 90 %
of them. The misses are listed, with their reasons, in KNOWN_MISSES: a change in what misses
fails here, so that it is looked at, and README's validation table is kept true."""

from __future__ import annotations

import pytest

from sermsim.trials.validate import (
    load_spec,
    load_targets,
    not_compared,
    run_validation,
    validation_json,
)

# id -> why the model misses it (also in README, "Validation").
KNOWN_MISSES = {
    "p1_ibc_cum_tamoxifen": "the ER+ reduction fitted jointly to P-1 and MORE is stronger than "
    "P-1's own, and the placebo incidence sits at the low end of its CI",
    "p1_2005_osteoporotic_rr": "after tamoxifen stops, turnover returns within months; the "
    "turnover link fitted to MORE's weak non-vertebral effect cannot carry P-1's benefit "
    "2 years after stopping",
    "more_clinical_vert_6mo": "BMD and turnover together give RR about 0.7 at 6 months; the "
    "published 0.1 rests on very few events",
    "more_clinical_vert_1y": "as at 6 months: the model reaches 36 %, just below the interval",
    "osp_endometrium_12wk": "one endometrial time constant (14 days) reaches the 12-month "
    "thickness by week 12; the data rise slowly over a year",
}


@pytest.fixture(scope="module")
def comparisons():
    targets = [t for t in load_targets() if t.must_show]
    return run_validation(targets)


def test_at_least_90_percent_of_the_outcomes_issue_list_within(comparisons):
    within = [c for c in comparisons if c.within]
    missed = {c.target.id: c for c in comparisons if not c.within}
    report = "\n".join(
        f"{i}: {c.simulated:.4g} vs [{c.target.ci_low:g}, {c.target.ci_high:g}]"
        for i, c in missed.items()
    )
    assert len(within) >= 0.9 * len(comparisons), report
    assert set(missed) == set(KNOWN_MISSES), report


def test_the_json_of_the_issue(comparisons):
    doc = validation_json(comparisons)
    assert doc["n_total"] == len(comparisons)
    assert doc["n_within"] == sum(c.within for c in comparisons)
    for row in doc["targets"]:
        assert {
            "id",
            "trial",
            "endpoint",
            "simulated",
            "published",
            "ci_low",
            "ci_high",
            "within",
        } <= set(row)
        assert row["ci_low"] <= row["published"] <= row["ci_high"]
    assert doc["not_compared"] and all(r["reason"] for r in doc["not_compared"])


def test_every_target_names_a_shipped_spec_and_a_trials_yaml_trial():
    for target in load_targets():
        spec = load_spec(target.spec)
        arms = {a.name for a in spec.arms}
        m = target.measure
        for key in ("arm", "reference"):
            if key in m:
                names = m[key] if isinstance(m[key], list) else [m[key]]
                assert set(names) <= arms, (target.id, names)
        assert target.ci_low <= target.published <= target.ci_high, target.id
    assert len(not_compared()) > 10


def test_an_infinite_number_needed_to_harm_is_null_and_outside():
    import json
    import math

    from sermsim.trials.validate import Comparison

    target = load_targets(["grady_vte_nnh"])[0]
    row = validation_json([Comparison(target, math.inf)])["targets"][0]
    assert row["simulated"] is None and row["within"] is False
    json.dumps(row, allow_nan=False)
