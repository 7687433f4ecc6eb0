"""The calibration objective: how far the model's expectations lie from the targets.

Each target gives a z-score, (simulated - published) / standard error, the standard error
being the 95 % half-width of the target's interval / 1.96 (on the log scale for ratios). The
objective is the negative log-likelihood 0.5 * sum z^2 of independent normal errors. Outcome
targets are read from the model's expected incidences (no sampled events): the anchors'
physiology is simulated once per trial spec and kept, and only the hazards are recomputed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sermsim.calibration.free import Block, FreeParameter
from sermsim.outcomes.parameters import load_outcome_parameters
from sermsim.physiology import targets as physiology_targets
from sermsim.physiology.simulate import Engine, default_engine
from sermsim.trials import validate
from sermsim.trials.run import Z95, run_trial
from sermsim.trials.spec import TrialSpec

RATIO_KINDS = ("rr", "window_rr")  # outcome measures compared on the log scale


@dataclass(frozen=True)
class TargetFit:
    id: str
    block: str
    simulated: float
    published: float
    low: float
    high: float
    z: float

    @property
    def within(self) -> bool:
        return self.low <= self.simulated <= self.high

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "block": self.block,
            "simulated": float(f"{self.simulated:.5g}"),
            "published": self.published,
            "ci_low": self.low,
            "ci_high": self.high,
            "z": round(self.z, 4),
            "within": self.within,
        }


def objective(fits: Sequence[TargetFit]) -> float:
    """0.5 * sum of squared z-scores (the negative log-likelihood, up to a constant)."""
    return 0.5 * sum(f.z**2 for f in fits)


def _z(simulated: float, published: float, low: float, high: float, log: bool) -> float:
    if log and simulated > 0 and low > 0:
        se = 0.5 * (math.log(high) - math.log(low)) / Z95
        return (math.log(simulated) - math.log(published)) / se
    se = 0.5 * (high - low) / Z95
    return (simulated - published) / se


@dataclass
class BlockProblem:
    """One block's targets as a function of its parameters' values.

    ``base`` holds the values of other free parameters already fitted in this run (physiology
    values for an outcome block: its anchors are simulated with them). ``people_per_arm``
    replaces the trial specs' population sizes (a reduced problem for tests); the default
    runs every trial as shipped."""

    block: Block
    base: Mapping[str, float] = field(default_factory=dict)
    people_per_arm: int | None = None
    evaluations: int = 0
    _cache: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def parameters(self) -> tuple[FreeParameter, ...]:
        return self.block.parameters

    def _physiology_base(self) -> dict[str, float]:
        """The values in ``base`` that are physiology parameters (the rest are outcomes')."""
        names = default_engine().physiology.values
        return {k: v for k, v in self.base.items() if k in names}

    def engine(self) -> Engine:
        if self._engine is None:
            physiology = self._physiology_base()
            base = default_engine()
            self._engine = base.with_overrides(physiology) if physiology else base
        return self._engine

    def evaluate(self, values: Mapping[str, float]) -> list[TargetFit]:
        self.evaluations += 1
        if self.block.layer == "physiology":
            return self._physiology(values)
        return self._outcomes(values)

    def _physiology(self, values: Mapping[str, float]) -> list[TargetFit]:
        engine = default_engine().with_overrides({**self._physiology_base(), **values})
        wanted = set(self.block.targets)
        cache: physiology_targets.Cache = {}
        out = []
        for t in physiology_targets.load_targets():
            if t.id not in wanted:
                continue
            sim = physiology_targets.evaluate(t, engine, cache).simulated
            log = t.quantity.get("kind") == "ratio"
            z = _z(sim, t.value, t.low, t.high, log)
            out.append(TargetFit(t.id, self.block.name, sim, t.value, t.low, t.high, z))
        return out

    def _spec(self, name: str) -> TrialSpec:
        spec = validate.load_spec(name)
        if self.people_per_arm is not None:
            spec = dataclasses.replace(spec, n_per_arm=min(spec.n_per_arm, self.people_per_arm))
        return spec

    def _outcomes(self, values: Mapping[str, float]) -> list[TargetFit]:
        overrides = {k: v for k, v in self.base.items() if k not in self._physiology_base()}
        params = load_outcome_parameters({**overrides, **values})
        targets = validate.load_targets(self.block.targets)
        results = {}
        for name in sorted({t.spec for t in targets}):
            subgroups = any("subgroup" in t.measure for t in targets if t.spec == name)
            results[name] = run_trial(
                self._spec(name),
                engine=self.engine(),
                params=params,
                physiology_cache=self._cache.setdefault(name, {}),
                keep_hazards=subgroups,
            )
        out = []
        for t in targets:
            sim = validate.measure(results[t.spec], t.measure)
            log = t.measure["kind"] in RATIO_KINDS
            z = _z(sim, t.published, t.ci_low, t.ci_high, log)
            out.append(TargetFit(t.id, self.block.name, sim, t.published, t.ci_low, t.ci_high, z))
        return out
