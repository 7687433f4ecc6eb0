"""The NCI Breast Cancer Risk Assessment Tool (BCRAT, the modified Gail model), from its
published coefficients and rates (``data/outcomes/gail.yaml``), vectorised over people.

The relative risk multiplies four categorised risk factors (biopsies, age at menarche, age at
first live birth, first-degree relatives) with two interactions and the atypical-hyperplasia
multiplier; the "age >= 50" interaction follows the age *reached* during a projection. The
absolute risk over an interval is the probability of a first invasive breast cancer with death
from other causes competing, for hazards constant within 5-year age groups::

    Risk(a, b) = sum_j h1*_j / H_j * exp(-sum_{i<j} H_i d_i) * (1 - exp(-H_j d_j))

with ``h1* = h1 * (1 - AR) * RR`` and ``H = h1* + h2``.

>>> g = GailInputs.single(race="white", biopsies=1, atypia=None, menarche=12,
...                       first_birth=25, relatives=1)
>>> round(100 * float(absolute_risk(g, 40.0, 50.0)[0]), 6)
4.513622
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sermsim.core.params import data_dir, load_yaml

FloatArray = NDArray[np.float64]
RACES = ("white", "black", "hispanic", "asian", "other")
UNKNOWN = -1.0  # an unknown covariate (BCRAT's 99)
NULLIPAROUS = -2.0  # no live birth (BCRAT's 98)


@lru_cache(maxsize=1)
def gail_data() -> dict[str, Any]:
    return load_yaml(data_dir() / "outcomes" / "gail.yaml")


@dataclass(frozen=True)
class GailInputs:
    """BCRAT's inputs for n women (arrays); unknown values are :data:`UNKNOWN`."""

    race: NDArray[np.int64]  # index into RACES
    biopsies: FloatArray
    atypia: FloatArray  # 1 yes, 0 no, UNKNOWN
    menarche: FloatArray
    first_birth: FloatArray  # age, NULLIPAROUS or UNKNOWN
    relatives: FloatArray

    @classmethod
    def single(
        cls,
        *,
        race: str = "white",
        biopsies: float | None = None,
        atypia: bool | None = None,
        menarche: float | None = None,
        first_birth: float | None = None,
        relatives: float | None = None,
        nulliparous: bool = False,
    ) -> GailInputs:
        def value(x: float | None) -> FloatArray:
            return np.array([UNKNOWN if x is None else float(x)])

        birth = value(first_birth)
        if nulliparous:
            birth[:] = NULLIPAROUS
        return cls(
            race=np.array([RACES.index(race)]),
            biopsies=value(biopsies),
            atypia=value(None if atypia is None else float(atypia)),
            menarche=value(menarche),
            first_birth=birth,
            relatives=value(relatives),
        )


def _categories(g: GailInputs) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """BCRAT's base coding (recode.check): NB 0/1/2, AM 0/1/2, AF 0..3, NR 0/1/2."""
    nb = np.where(g.biopsies <= 0, 0.0, np.where(g.biopsies == 1, 1.0, 2.0))
    am = np.where(
        g.menarche == UNKNOWN,
        0.0,
        np.where(g.menarche >= 14, 0.0, np.where(g.menarche >= 12, 1.0, 2.0)),
    )
    fb = g.first_birth
    af = np.select(
        [fb == UNKNOWN, fb == NULLIPAROUS, fb < 20, fb < 25, fb < 30],
        [0.0, 2.0, 0.0, 1.0, 2.0],
        default=3.0,
    )
    nr = np.where(g.relatives <= 0, 0.0, np.where(g.relatives == 1, 1.0, 2.0))
    return nb, am, af, nr


def relative_risks(g: GailInputs) -> tuple[FloatArray, FloatArray]:
    """RR* below and from age 50 (the atypical-hyperplasia multiplier included)."""
    data = gail_data()
    nb, am, af, nr = _categories(g)
    coding = np.array([data["races"][r]["coding"] for r in RACES])[g.race]
    black, hispanic, asian = coding == "black", coding == "hispanic_us", coding == "asian"
    # Race-specific recoding (BCRA 2.1.2 recode.check).
    am = np.where(black, np.minimum(am, 1.0), am)
    af = np.where(black, 0.0, af)
    af_hisp = np.where(
        af == 0.0,
        0.0,
        np.where((af == 1.0) | ((af == 2.0) & (g.first_birth != NULLIPAROUS)), 1.0, 2.0),
    )
    af = np.where(hispanic, af_hisp, af)
    am = np.where(hispanic, 0.0, am)
    nb = np.where(hispanic, np.minimum(nb, 1.0), nb)
    nr = np.where(hispanic | asian, np.minimum(nr, 1.0), nr)
    beta = np.array([data["log_relative_risk"]["sets"][data["races"][r]["beta"]] for r in RACES])[
        g.race
    ]
    mult = data["atypical_hyperplasia_multiplier"]
    hyp = np.where(
        nb == 0,
        mult["no_biopsy"],
        np.where(
            g.atypia == 1.0,
            mult["biopsy_atypia"],
            np.where(g.atypia == 0.0, mult["biopsy_no_atypia"], mult["biopsy_atypia_unknown"]),
        ),
    )
    lp = (
        nb * beta[:, 0]
        + am * beta[:, 1]
        + af * beta[:, 2]
        + nr * beta[:, 3]
        + af * nr * beta[:, 5]
        + np.log(hyp)
    )
    return np.exp(lp), np.exp(lp + nb * beta[:, 4])


def age_group(age: FloatArray) -> NDArray[np.int64]:
    """The BCRAT age group (0 = 20-24 ... 13 = 85-89) of each age, clamped."""
    edges = np.asarray(gail_data()["age_groups"]["lower_edges"], dtype=float)
    return np.clip(np.searchsorted(edges, age, side="right") - 1, 0, len(edges) - 1)


def rates(g: GailInputs, *, average: bool = False) -> tuple[FloatArray, FloatArray]:
    """(lambda1, lambda2) tables per woman (n, 14): the race's own, or its average-risk rates."""
    data = gail_data()
    key = "average_rates" if average else "rates"
    sets = data["rates"]["sets"]
    l1 = np.array([sets[data["races"][r][key]]["lambda1"] for r in RACES])[g.race]
    l2 = np.array([sets[data["races"][r][key]]["lambda2"] for r in RACES])[g.race]
    return l1, l2


def individual_incidence(g: GailInputs) -> FloatArray:
    """Per woman, the BCRAT hazard table h1* = h1 (1 - AR) RR* by age group (n, 14)."""
    data = gail_data()
    rr_young, rr_old = relative_risks(g)
    ar = np.array(
        [data["one_minus_attributable_risk"]["sets"][data["races"][r]["ar"]] for r in RACES]
    )[g.race]
    l1, _ = rates(g)
    old = np.asarray(data["age_groups"]["lower_edges"]) >= 50
    factor = np.where(old[None, :], (ar[:, 1] * rr_old)[:, None], (ar[:, 0] * rr_young)[:, None])
    return l1 * factor


def _risk(h1: FloatArray, h2: FloatArray, start: FloatArray, stop: FloatArray) -> FloatArray:
    """Competing-risk absolute risk over [start, stop) for piecewise-constant tables (n, 14)."""
    edges = np.asarray(gail_data()["age_groups"]["lower_edges"], dtype=float)
    upper = np.append(edges[1:], gail_data()["age_groups"]["upper_limit"])
    lo = np.clip(start[:, None], edges[None, :], upper[None, :])
    hi = np.clip(stop[:, None], edges[None, :], upper[None, :])
    d = hi - lo  # time spent in each group
    total = h1 + h2
    before = np.cumsum(total * d, axis=1) - total * d
    return np.sum(h1 / total * np.exp(-before) * (1.0 - np.exp(-total * d)), axis=1)


def absolute_risk(g: GailInputs, start: FloatArray | float, stop: FloatArray | float) -> FloatArray:
    """BCRAT's absolute risk of invasive breast cancer between ages ``start`` and ``stop``."""
    n = len(g.race)
    start_a = np.broadcast_to(np.asarray(start, dtype=float), (n,))
    stop_a = np.broadcast_to(np.asarray(stop, dtype=float), (n,))
    _, l2 = rates(g)
    return _risk(individual_incidence(g), l2, start_a, stop_a)


def average_risk(g: GailInputs, start: FloatArray | float, stop: FloatArray | float) -> FloatArray:
    """The age-typical ("average woman") risk: the average-risk rates, RR = 1, 1 - AR = 1."""
    n = len(g.race)
    l1, l2 = rates(g, average=True)
    return _risk(
        l1,
        l2,
        np.broadcast_to(np.asarray(start, dtype=float), (n,)),
        np.broadcast_to(np.asarray(stop, dtype=float), (n,)),
    )


def incidence_at(table: FloatArray, age: FloatArray) -> FloatArray:
    """Hazard from a per-woman age-group table (n, 14) at ages (n, k) (clamped to 20-89)."""
    idx = age_group(np.asarray(age, dtype=float))
    return np.take_along_axis(table, idx.reshape(table.shape[0], -1), axis=1).reshape(idx.shape)


def scale_to_risk(g: GailInputs, age: FloatArray, risk_5y: FloatArray) -> FloatArray:
    """The multiplier m of the average-risk incidence that gives each woman her stated 5-year
    risk (with competing mortality), found by bisection on log m."""
    l1, l2 = rates(g, average=True)
    stop = np.minimum(age + 5.0, gail_data()["age_groups"]["upper_limit"])
    lo = np.full(len(age), -8.0)
    hi = np.full(len(age), 8.0)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        above = _risk(l1 * np.exp(mid)[:, None], l2, age, stop) > risk_5y
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    return np.exp(0.5 * (lo + hi))
