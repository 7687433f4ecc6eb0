"""Virtual populations: every patient key fixed or drawn from TRIAL_SPEC.md's distributions,
keyed by (seed, arm, candidate index), screened by the inclusion criteria.

Draws are by inverse CDF of keyed uniforms, so truncation (``min``/``max``, and the patient
format's own bounds) is exact, never by rejection. Where they matter, covariates are
correlated through a Gaussian copula with correlations *derived* from sourced age gradients:
- a drawn T-score with a drawn age: the typical T-score's slope with age
  (``bone.typical_t_score_slope_*``), rho = slope x SD(age) / SD(T);
- a drawn 5-year breast-cancer risk with a drawn age: the slope of the Gail model's
  average-risk log 5-year risk with age at the population's mean age.
Unspecified keys take the patient format's defaults (age-typical T-scores and breast risk, so
these follow age too).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri

from sermsim.core.errors import SpecError
from sermsim.outcomes import gail
from sermsim.physiology import patient as pt
from sermsim.physiology.patient import Patient, patient_from_mapping
from sermsim.trials.keyed import uniforms
from sermsim.trials.spec import Choices, Distribution, FractionTrue, TrialSpec

BOUNDS: dict[str, tuple[float, float]] = {
    "age": (pt.MIN_AGE, pt.MAX_AGE),
    "years_since_menopause": (0.0, pt.MAX_AGE - pt.MIN_MENOPAUSE_AGE),
    "bmi": (pt.MIN_BMI, pt.MAX_BMI),
    "bmd_t_score_spine": (pt.MIN_T_SCORE, pt.MAX_T_SCORE),
    "bmd_t_score_hip": (pt.MIN_T_SCORE, pt.MAX_T_SCORE),
    "breast_cancer_5y_risk": (1e-6, 1.0 - 1e-6),
    "age_at_menarche": (pt.MIN_MENARCHE_AGE, pt.MAX_MENARCHE_AGE),
    "age_at_first_birth": (pt.MIN_FIRST_BIRTH_AGE, pt.MAX_FIRST_BIRTH_AGE),
    "first_degree_relatives_breast_cancer": (0, pt.MAX_RELATIVES),
    "breast_biopsies": (0, pt.MAX_BIOPSIES),
    "estradiol_pg_ml": (1e-3, pt.MAX_ESTRADIOL_PG_ML),
    "testosterone_ng_dl": (1e-3, pt.MAX_TESTOSTERONE_NG_DL),
    "lh_iu_l": (1e-3, pt.MAX_GONADOTROPIN_IU_L),
    "fsh_iu_l": (1e-3, pt.MAX_GONADOTROPIN_IU_L),
}
MAX_CANDIDATES_PER_PERSON = 1000  # inclusion that admits fewer than 1 in 1000 is an error
CANDIDATE_CHUNK = 200_000


@dataclass
class Population:
    """One arm's people: a column per patient key (NaN / '' / None where not given)."""

    columns: dict[str, NDArray[Any]]
    index: NDArray[np.int64]  # candidate index of each person (their random-draw key)

    def __len__(self) -> int:
        return len(self.index)

    def take(self, rows: NDArray[np.int64]) -> Population:
        """The people at ``rows`` (the keys the spec gives stay the spec's)."""
        columns = {k: (v if k == "_given" else v[rows]) for k, v in self.columns.items()}
        return Population(columns, self.index[rows])

    def patient(self, row: int) -> Patient:
        """The person at ``row`` as a checked :class:`Patient` (for the physiology)."""
        data: dict[str, Any] = {}
        female = bool(self.columns["female"][row])
        for key in Patient.model_fields:
            if key not in self.given or key in ("sex", "age"):
                continue
            value = self.columns[key][row]
            if isinstance(value, float) and math.isnan(value):
                continue
            if isinstance(value, np.generic):
                value = value.item()
            if key in _WOMEN_ONLY and not female:
                continue
            if key in ("first_degree_relatives_breast_cancer", "breast_biopsies"):
                value = int(value)
            data[key] = value
        data["sex"] = "female" if female else "male"
        data["age"] = float(self.columns["age"][row])
        return patient_from_mapping(data, where="population")

    @property
    def given(self) -> set[str]:
        return set(self.columns.get("_given", np.array([], dtype=object)).tolist())


_WOMEN_ONLY = (
    "menopause",
    "years_since_menopause",
    "age_at_menarche",
    "age_at_first_birth",
    "surgical_menopause",
    "uterus",
)


def _draw(dist: Distribution, u: NDArray[np.float64], key: str) -> NDArray[np.float64]:
    lo, hi = BOUNDS.get(key, (-math.inf, math.inf))
    low, high = max(dist.low, lo), min(dist.high, hi)
    if low >= high:
        raise SpecError(
            f"population.{key}",
            f"[{dist.low:g}, {dist.high:g}]",
            f"the range must overlap [{lo:g}, {hi:g}]",
        )
    if dist.kind == "uniform":
        return low + u * (high - low)
    if dist.kind == "normal":
        mu, sd = dist.a, max(dist.b, 1e-12)
        a, b = ndtr((low - mu) / sd), ndtr((high - mu) / sd)
        return np.clip(mu + sd * ndtri(a + u * (b - a)), low, high)
    # lognormal: median, sd_log
    mu, sd = math.log(dist.a), max(dist.b, 1e-12)
    a = ndtr((math.log(low) - mu) / sd) if low > 0 else 0.0
    b = ndtr((math.log(high) - mu) / sd) if math.isfinite(high) else 1.0
    return np.clip(np.exp(mu + sd * ndtri(a + u * (b - a))), low, high)


def _sd(dist: Distribution) -> float:
    if dist.kind == "uniform":
        return (dist.b - dist.a) / math.sqrt(12.0)
    return dist.b


def _correlated(
    u: NDArray[np.float64], z_age: NDArray[np.float64] | None, rho: float
) -> NDArray[np.float64]:
    if z_age is None or rho == 0.0:
        return u
    z = rho * z_age + math.sqrt(1.0 - rho**2) * ndtri(u)
    return np.asarray(ndtr(z), dtype=np.float64)


def _t_slope(female: NDArray[np.bool_], physiology: Mapping[str, float]) -> NDArray[np.float64]:
    return np.where(
        female,
        physiology["bone.typical_t_score_slope_women"],
        physiology["bone.typical_t_score_slope_men"],
    )


def typical_t_score(
    female: NDArray[np.bool_], age: NDArray[np.float64], physiology: Mapping[str, float]
) -> NDArray[np.float64]:
    """The physiology's age/sex-typical T-score (0 at 30, linear to its value at 50, then its
    slope), vectorised."""
    at_50 = np.where(
        female,
        physiology["bone.typical_t_score_women_50"],
        physiology["bone.typical_t_score_men_50"],
    )
    young = at_50 * np.clip(age - 30.0, 0.0, None) / 20.0
    return np.where(age < 50.0, young, at_50 + _t_slope(female, physiology) * (age - 50.0))


def _risk_age_slope(age: float) -> float:
    """d ln(5-year average risk) / d age for a white woman, from the Gail model."""
    g = gail.GailInputs.single(race="white")
    a = min(max(age, 22.0), 80.0)
    lo = float(gail.average_risk(g, a - 2.0, a + 3.0)[0])
    hi = float(gail.average_risk(g, a + 2.0, a + 7.0)[0])
    return math.log(hi / lo) / 4.0


def _candidates(
    spec: TrialSpec, arm: str, index: NDArray[np.int64], physiology: Mapping[str, float]
) -> dict[str, NDArray[Any]]:
    pop = spec.population
    n = len(index)
    seed = spec.seed
    cols: dict[str, NDArray[Any]] = {}

    def uni(key: str) -> NDArray[np.float64]:
        return uniforms(seed, arm, index, key)

    def categorical(key: str, default: Any) -> NDArray[Any]:
        value = pop.get(key, default)
        if isinstance(value, Choices):
            u = uni(key)
            edges = np.cumsum(value.probabilities)
            pick = np.minimum(np.searchsorted(edges, u, side="right"), len(value.values) - 1)
            return np.asarray(value.values, dtype=object)[pick]
        if isinstance(value, Distribution | FractionTrue):
            raise SpecError(f"population.{key}", key, "give a value or {choices: {...}}")
        return np.full(n, value, dtype=object)

    def boolean(key: str, default: bool | None) -> NDArray[Any]:
        value = pop.get(key, default)
        if isinstance(value, FractionTrue):
            return uni(key) < value.p
        if isinstance(value, Distribution | Choices):
            raise SpecError(f"population.{key}", key, "give true/false or {fraction_true: p}")
        return np.full(n, value, dtype=object)

    def numeric(
        key: str, z_age: NDArray[np.float64] | None = None, rho: float = 0.0
    ) -> NDArray[np.float64]:
        value = pop.get(key)
        if isinstance(value, Distribution):
            return _draw(value, _correlated(uni(key), z_age, rho), key)
        if isinstance(value, FractionTrue | Choices):
            raise SpecError(f"population.{key}", key, "give a number or a distribution")
        if value is None:
            return np.full(n, np.nan)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(f"population.{key}", value, "give a number or a distribution")
        return np.full(n, float(value))

    sex = categorical("sex", "female")
    for v in set(sex.tolist()):
        if v not in ("female", "male"):
            raise SpecError("population.sex", v, "use female or male")
    female = sex == "female"
    cols["female"] = female
    age_spec = pop.get("age")
    if age_spec is None:
        raise SpecError("population.age", None, "give an age or an age distribution")
    cols["age"] = numeric("age")
    z_age = ndtri(uni("age")) if isinstance(age_spec, Distribution) else None
    sd_age = _sd(age_spec) if isinstance(age_spec, Distribution) else 0.0
    age = cols["age"]

    menopause = categorical("menopause", None)
    default_menopause = np.where(age >= pt.POSTMENOPAUSAL_DEFAULT_AGE, "post", "pre")
    surgical = boolean("surgical_menopause", False).astype(bool) & female
    menopause = np.where(menopause == None, default_menopause, menopause)  # noqa: E711
    menopause = np.where(surgical, "post", menopause)
    cols["menopause"] = np.where(female, menopause, np.asarray(None, dtype=object))
    cols["surgical_menopause"] = surgical
    ysm = numeric("years_since_menopause")
    ysm = np.where(np.isnan(ysm), np.maximum(age - pt.DEFAULT_MENOPAUSE_AGE, 0.0), ysm)
    ysm = np.minimum(ysm, age - pt.MIN_MENOPAUSE_AGE)
    cols["years_since_menopause"] = np.where(female & (cols["menopause"] == "post"), ysm, np.nan)
    uterus = boolean("uterus", True)
    cols["uterus"] = uterus.astype(bool) & female
    cols["bmi"] = np.nan_to_num(numeric("bmi"), nan=pt.DEFAULT_BMI)
    for key in ("smoker", "prior_vte", "prior_fragility_fracture"):
        cols[key] = boolean(key, False).astype(bool)
    cols["thrombophilia"] = categorical("thrombophilia", "none")
    cols["cyp2d6"] = categorical("cyp2d6", "normal")
    typical = typical_t_score(female, age, physiology)
    for key in ("bmd_t_score_spine", "bmd_t_score_hip"):
        spec_t = pop.get(key)
        rho = 0.0
        if isinstance(spec_t, Distribution) and z_age is not None and _sd(spec_t) > 0:
            slope = float(np.mean(_t_slope(female, physiology)))
            rho = float(np.clip(slope * sd_age / _sd(spec_t), -0.9, 0.9))
        t = numeric(key, z_age, rho)
        cols[key] = np.where(np.isnan(t), typical, t)
    risk_spec = pop.get("breast_cancer_5y_risk")
    rho = 0.0
    if isinstance(risk_spec, Distribution) and risk_spec.kind == "lognormal" and z_age is not None:
        slope = _risk_age_slope(float(np.mean(age)))
        rho = float(np.clip(slope * sd_age / max(risk_spec.b, 1e-9), -0.9, 0.9))
    cols["breast_cancer_5y_risk"] = numeric("breast_cancer_5y_risk", z_age, rho)
    cols["race"] = categorical("race", None)
    for key in (
        "age_at_menarche",
        "age_at_first_birth",
        "first_degree_relatives_breast_cancer",
        "breast_biopsies",
        "estradiol_pg_ml",
        "testosterone_ng_dl",
        "lh_iu_l",
        "fsh_iu_l",
    ):
        cols[key] = numeric(key)
    for key in ("first_degree_relatives_breast_cancer", "breast_biopsies"):
        cols[key] = np.round(cols[key])
    cols["atypical_hyperplasia"] = boolean("atypical_hyperplasia", None)
    # Drawn independently of age, the Gail ages are made consistent with each person's (as the
    # patient format requires): menarche no later than her age; a first birth before menarche
    # at menarche; a first birth after her age has not happened yet, so she is nulliparous.
    menarche = np.minimum(cols["age_at_menarche"], age)  # NaN (not given) stays NaN
    birth = cols["age_at_first_birth"]
    first = np.where(np.isnan(menarche), birth, np.maximum(birth, menarche))
    cols["age_at_menarche"] = menarche
    cols["age_at_first_birth"] = np.where(first > age, np.nan, first)
    # Women-only inputs are not a man's.
    for key in ("age_at_menarche", "age_at_first_birth"):
        cols[key] = np.where(female, cols[key], np.nan)
    cols["_given"] = np.array(sorted(k for k in pop if k != "n_per_arm"), dtype=object)
    return cols


PATIENT_TABLE_KEYS = tuple(Patient.model_fields)


def inclusion_table(cols: Mapping[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
    """Columns as the inclusion language sees them: patient keys, strings for categories."""
    out = {k: v for k, v in cols.items() if not k.startswith("_")}
    out["sex"] = np.where(cols["female"], "female", "male")
    for key in ("menopause", "race", "thrombophilia", "cyp2d6"):
        out[key] = np.asarray([("" if v is None else str(v)) for v in cols[key]], dtype=object)
    for key in ("uterus", "smoker", "prior_vte", "prior_fragility_fracture", "surgical_menopause"):
        out[key] = np.asarray(cols[key], dtype=bool)
    ah = cols["atypical_hyperplasia"]
    out["atypical_hyperplasia"] = np.asarray([bool(v) if v is not None else False for v in ah])
    return out


def sample_arm(
    spec: TrialSpec, arm: str, physiology: Mapping[str, float], *, stop: int | None = None
) -> Population:
    """Draw candidates until ``n_per_arm`` meet the inclusion criteria; with ``stop``, only
    the arm's first ``stop`` people (the same people as the first ``stop`` of the whole arm:
    the candidates are drawn in the same blocks)."""
    n = spec.n_per_arm
    wanted = n if stop is None else min(stop, n)
    taken: list[dict[str, NDArray[Any]]] = []
    kept = 0
    start = 0
    limit = n * MAX_CANDIDATES_PER_PERSON
    while kept < wanted:
        if start >= limit:
            raise SpecError(
                "inclusion",
                "; ".join(t for t, _ in spec.inclusion),
                f"admits fewer than 1 in {MAX_CANDIDATES_PER_PERSON} people drawn: widen it or "
                "change the population",
            )
        size = min(CANDIDATE_CHUNK, max(2 * (n - kept), 64))
        index = np.arange(start, start + size, dtype=np.int64)
        cols = _candidates(spec, arm, index, physiology)
        ok = np.ones(size, dtype=bool)
        view = inclusion_table(cols)
        for _, rule in spec.inclusion:
            ok &= np.asarray(rule(view), dtype=bool)
        cols["_index"] = index
        rows = np.flatnonzero(ok)[: wanted - kept]
        taken.append({k: (v[rows] if k != "_given" else v) for k, v in cols.items()})
        kept += len(rows)
        start += size
    given = taken[0]["_given"]
    columns = {
        k: np.concatenate([t[k] for t in taken]) for k in taken[0] if k not in ("_given", "_index")
    }
    columns["_given"] = given
    return Population(columns, np.concatenate([t["_index"] for t in taken]))
