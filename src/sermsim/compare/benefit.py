"""Counts among people like one person, their 95% intervals, and the net-benefit index.

Two sources of uncertainty. Sampling: the number of events among ``per`` people who each have
probability ``p`` is binomial. Parameters: each member of the parameter ensemble
(:mod:`sermsim.outcomes.ensemble`) gives its own ``p``. With members, a count's interval is the
2.5th and 97.5th percentiles of the mixture of the members' binomials; without, of the one
binomial. A difference between two options compares two independent groups of ``per`` people
(binomial variances) under one shared parameter set (the members' variance of the difference
is added). The net-benefit index (Gail 1999) is

    index = sum over events of weight * (expected untreated - expected with the option),

events prevented minus caused, weighted, per ``per`` people over the horizon, with the variance
of independent binomial counts (as Gail 1999 treated the counts, there as Poisson) plus the
members' variance of the index.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from sermsim.trials.run import Z95


def _r(x: float, digits: int = 3) -> float:
    return round(float(x), digits)


def count_interval(p: float, per: int, level: float) -> tuple[float, float]:
    """The central ``level`` interval of the number of events among ``per`` people.

    >>> count_interval(0.03, 1000, 0.95)
    (20.0, 41.0)
    """
    if not 0.0 <= p <= 1.0 or not math.isfinite(p):
        raise ValueError(f"count_interval: probability {p!r} is not in [0, 1]")
    tail = (1.0 - level) / 2.0
    lo = float(stats.binom.ppf(tail, per, p))
    hi = float(stats.binom.ppf(1.0 - tail, per, p))
    return lo, hi


def mixture_interval(ps: NDArray[np.float64], per: int, level: float) -> tuple[float, float]:
    """The central ``level`` interval of the number of events among ``per`` people when
    their probability is each of ``ps`` with equal weight (a mixture of binomials).

    >>> mixture_interval(np.array([0.03, 0.03]), 1000, 0.95) == count_interval(0.03, 1000, 0.95)
    True
    """
    if not np.all((ps >= 0.0) & (ps <= 1.0)):
        raise ValueError("mixture_interval: a probability is not in [0, 1]")
    tail = (1.0 - level) / 2.0
    k = np.arange(per + 1)
    cdf = stats.binom.cdf(k[:, None], per, ps[None, :]).mean(axis=1)
    lo = float(np.searchsorted(cdf, tail - 1e-12))
    hi = float(np.searchsorted(cdf, 1.0 - tail - 1e-12))
    return lo, min(hi, float(per))


def count_variance(p: float, per: int) -> float:
    return per * p * (1.0 - p)


def _member_variance(values: NDArray[np.float64] | None) -> float:
    return float(np.var(values, ddof=1)) if values is not None and len(values) > 1 else 0.0


def event_entry(
    p: float,
    p_none: float | None,
    per: int,
    level: float,
    members: NDArray[np.float64] | None = None,
    members_none: NDArray[np.float64] | None = None,
) -> dict[str, Any]:
    """One option's expected events per ``per`` people, with intervals (and the difference
    from no treatment unless this is no treatment); ``members`` are the ensemble members'
    probabilities for the option (and ``members_none`` for no treatment), when there are."""
    lo, hi = (
        count_interval(p, per, level) if members is None else mixture_interval(members, per, level)
    )
    entry: dict[str, Any] = {"per_1000": _r(per * p), "low": lo, "high": hi}
    if p_none is not None:
        d = per * (p - p_none)
        z = z_of(level)
        paired = (
            per * (members - members_none)
            if members is not None and members_none is not None
            else None
        )
        se = math.sqrt(
            count_variance(p, per) + count_variance(p_none, per) + _member_variance(paired)
        )
        entry["vs_none"] = {"difference": _r(d), "low": _r(d - z * se), "high": _r(d + z * se)}
    return entry


def z_of(level: float) -> float:
    return Z95 if level == 0.95 else float(stats.norm.ppf(0.5 + level / 2.0))


def net_benefit(
    p: Mapping[str, float],
    p_none: Mapping[str, float],
    weights: Mapping[str, float],
    per: int,
    level: float,
    members: Mapping[str, NDArray[np.float64]] | None = None,
    members_none: Mapping[str, NDArray[np.float64]] | None = None,
) -> dict[str, Any]:
    """The weighted net-benefit index of an option against no treatment (``members``: the
    ensemble members' probabilities per event, for the option and for no treatment).

    >>> nb = net_benefit({"a": 0.01, "b": 0.02}, {"a": 0.03, "b": 0.01}, {"a": 1.0, "b": 0.5},
    ...                  1000, 0.95)
    >>> nb["index"], nb["prevented"], nb["caused"]
    (15.0, 20.0, 5.0)
    """
    index = prevented = caused = var = 0.0
    for name, w in weights.items():
        d = per * (p_none[name] - p[name])
        index += w * d
        prevented += w * max(d, 0.0)
        caused += w * max(-d, 0.0)
        var += w**2 * (count_variance(p[name], per) + count_variance(p_none[name], per))
    if members is not None and members_none is not None and weights:
        index_m = sum(w * per * (members_none[name] - members[name]) for name, w in weights.items())
        var += _member_variance(np.asarray(index_m, dtype=float))
    half = z_of(level) * math.sqrt(var)
    return {
        "index": _r(index),
        "low": _r(index - half),
        "high": _r(index + half),
        "prevented": _r(prevented),
        "caused": _r(caused),
    }
