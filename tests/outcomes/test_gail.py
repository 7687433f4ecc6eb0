"""The embedded BCRAT against reference outputs of the NCI implementation (CRAN BCRA 2.1.2,
as recorded in the test fixtures of epiverse/bcra-js; see /work/notes/gail_bcrat.md 6A)."""

from __future__ import annotations

import numpy as np
import pytest

from sermsim.outcomes import gail

UNKNOWN = None

# (T1, T2, biopsies, hyperplasia 0/1/None, menarche, first birth (None unknown, "nulli"),
#  relatives, race, absolute risk %)
CASES = [
    (40, 50, 1, None, 12, 25, 1, "white", 4.5136216073),
    (45, 55, 2, 1, 10, "nulli", 2, "white", 24.125253066),
    (30, 35, 0, None, 14, 22, 0, "white", 0.095603326859),
    (50, 60, None, None, None, None, None, "white", 1.3863082967),
    (40, 45, 1, 0, 11, "nulli", 1, "white", 1.8983595395),
    (70, 80, 1, None, 12, 28, 0, "white", 4.5936976595),
    (55, 65, 3, None, 11, 30, 1, "white", 8.956792832),
    (42, 52, 1, 0, 12, 26, 3, "white", 7.7073715194),
    (40, 50, 1, None, 12, 25, 1, "black", 2.7300575728),
    (45, 55, 2, 1, 10, "nulli", 2, "black", 11.4017761885),
    (70, 80, 1, None, 12, 28, 0, "black", 3.442200511),
    (55, 65, 3, None, 11, 30, 1, "black", 4.9888568211),
    (40, 50, 1, None, 12, 25, 1, "hispanic", 1.8869997821),
    (45, 55, 2, 1, 10, "nulli", 2, "hispanic", 5.8245861091),
    (50, 60, None, None, None, None, None, "hispanic", 1.9479105765),
    (40, 50, 1, None, 12, 25, 1, "asian", 3.0822121069),
    (40, 50, 1, 1, 12, 25, 1, "white", 8.0615150692),
    (40, 50, 1, None, 99, 25, 1, "white", 4.1171364245),  # menarche unknown (99)
    (20, 89, 1, None, 12, None, 1, "white", 23.6258039724),
    (49.9, 54.9, 1, None, 12, 25, 1, "white", 2.4205408529),
    (45.5, 50.5, 1, None, 12, 25, 1, "black", 1.7192701842),
    (89, 90, 1, None, 12, 25, 1, "white", 0.84957718153),
]


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c[7]}-{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)]
)
def test_absolute_risk_matches_the_reference_implementation(case):
    t1, t2, biopsies, hyp, menarche, birth, relatives, race, expected = case
    g = gail.GailInputs.single(
        race=race,
        biopsies=biopsies,
        atypia=None if hyp is None else bool(hyp),
        menarche=None if menarche in (None, 99) else menarche,
        first_birth=None if birth in (None, "nulli") else birth,
        relatives=relatives,
        nulliparous=birth == "nulli",
    )
    got = 100 * float(gail.absolute_risk(g, float(t1), float(t2))[0])
    assert got == pytest.approx(expected, rel=1e-8, abs=1e-9)


def test_average_risk_matches_the_reference():
    g = gail.GailInputs.single(race="white")
    assert 100 * float(gail.average_risk(g, 40.0, 50.0)[0]) == pytest.approx(1.5338974272, rel=1e-8)
    assert 100 * float(gail.average_risk(g, 70.0, 80.0)[0]) == pytest.approx(4.1597343058, rel=1e-8)


def test_scaling_to_a_stated_risk_reproduces_it():
    g = gail.GailInputs(
        race=np.zeros(3, dtype=np.int64),
        biopsies=np.full(3, gail.UNKNOWN),
        atypia=np.full(3, gail.UNKNOWN),
        menarche=np.full(3, gail.UNKNOWN),
        first_birth=np.full(3, gail.UNKNOWN),
        relatives=np.full(3, gail.UNKNOWN),
    )
    age = np.array([40.0, 55.0, 70.0])
    risk = np.array([0.01, 0.03, 0.08])
    m = gail.scale_to_risk(g, age, risk)
    l1, l2 = gail.rates(g, average=True)
    got = gail._risk(l1 * m[:, None], l2, age, age + 5.0)
    np.testing.assert_allclose(got, risk, rtol=1e-9)
