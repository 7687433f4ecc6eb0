"""The free parameters (``data/calibration/free_parameters.yaml``): which values calibration
may change, within which bounds, with which prior width, and what each block is fitted to.

>>> blocks = load_blocks()
>>> blocks["breast"].layer, blocks["breast"].parameters[0].name
('outcomes', 'breast.growth_neutral_signal')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from sermsim.core.errors import DataError
from sermsim.core.params import as_param, data_dir, load_yaml

Layer = Literal["outcomes", "physiology"]
LAYERS: tuple[Layer, ...] = ("outcomes", "physiology")


@dataclass(frozen=True)
class FreeParameter:
    name: str  # dotted name in its layer's data file, e.g. "breast.regression_rate"
    layer: Layer
    block: str
    lower: float
    upper: float
    prior_sd: float  # in the parameter's unit

    def clip(self, value: float) -> float:
        return min(max(value, self.lower), self.upper)


@dataclass(frozen=True)
class Block:
    name: str
    layer: Layer
    targets: tuple[str, ...]
    parameters: tuple[FreeParameter, ...]
    source: str

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]


def registry_path() -> Path:
    return data_dir() / "calibration" / "free_parameters.yaml"


def _need(node: Any, key: str, where: str) -> Any:
    if not isinstance(node, Mapping) or key not in node:
        raise DataError(f"{where}: '{key}' is missing; see data/calibration/free_parameters.yaml")
    return node[key]


def _known(layer: Layer) -> set[str]:
    """The parameter names a layer's data file holds."""
    if layer == "outcomes":
        from sermsim.outcomes.parameters import default_outcome_parameters

        return set(default_outcome_parameters().values)
    from sermsim.physiology.simulate import default_engine

    return set(default_engine().physiology.values)


def _block(name: str, raw: Mapping[str, Any], rule: float, where: str) -> Block:
    here = f"{where}: blocks.{name}"
    layer = _need(raw, "layer", here)
    if layer not in LAYERS:
        raise DataError(f"{here}.layer: {layer!r} is not one of {', '.join(LAYERS)}")
    known = _known(layer)
    params = []
    for pname, spec in dict(_need(raw, "parameters", here)).items():
        at = f"{here}.parameters.{pname}"
        if pname not in known:
            raise DataError(f"{at}: no such {layer} parameter in the data files")
        try:
            lo, hi = float(_need(spec, "lower", at)), float(_need(spec, "upper", at))
            sd = float(spec.get("prior_sd", rule * (hi - lo)))
        except (TypeError, ValueError):
            raise DataError(f"{at}: lower, upper and prior_sd must be numbers") from None
        if not lo < hi:
            raise DataError(f"{at}: lower {lo} is not below upper {hi}")
        if not sd > 0:
            raise DataError(f"{at}: prior_sd {sd} must be positive")
        params.append(FreeParameter(pname, layer, name, lo, hi, sd))
    if not params:
        raise DataError(f"{here}.parameters: a block needs at least one parameter")
    targets = tuple(str(t) for t in _need(raw, "targets", here))
    _check_targets(layer, targets, here)
    return Block(name, layer, targets, tuple(params), str(_need(raw, "source", here)))


def _check_targets(layer: Layer, targets: tuple[str, ...], where: str) -> None:
    if layer == "outcomes":
        from sermsim.trials.validate import load_targets

        ids = {t.id for t in load_targets()}
    else:
        from sermsim.physiology.targets import load_targets as physiology_targets

        ids = {t.id for t in physiology_targets() if not t.check_only}
    unknown = [t for t in targets if t not in ids]
    if unknown or not targets:
        raise DataError(f"{where}.targets: {unknown or 'none'}: not fitted targets of {layer}")


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, Block]:
    raw = load_yaml(path)
    where = path.name
    rule = as_param(_need(raw, "prior_rule", where), f"{where}.prior_rule").value
    blocks = _need(raw, "blocks", where)
    if not isinstance(blocks, Mapping) or not blocks:
        raise DataError(f"{where}: blocks: give at least one block")
    return {name: _block(name, b, rule, where) for name, b in blocks.items()}


def load_blocks(path: Path | None = None) -> dict[str, Block]:
    """Every block of the registry, in file order."""
    return dict(_load(path or registry_path()))


def free_parameters(layer: Layer | None = None, path: Path | None = None) -> list[FreeParameter]:
    """Every free parameter (of one layer), in file order."""
    return [
        p
        for b in load_blocks(path).values()
        for p in b.parameters
        if layer is None or p.layer == layer
    ]


def with_prior_sd(blocks: Mapping[str, Block], widths: Mapping[str, float]) -> dict[str, Block]:
    """The blocks with some parameters' prior standard deviations replaced (by name)."""
    unknown = set(widths) - {p.name for b in blocks.values() for p in b.parameters}
    if unknown:
        raise DataError(f"prior widths for parameters that are not free: {sorted(unknown)}")
    out = {}
    for name, b in blocks.items():
        params = tuple(
            replace(p, prior_sd=float(widths[p.name])) if p.name in widths else p
            for p in b.parameters
        )
        out[name] = replace(b, parameters=params)
    return out


def shipped_values(layer: Layer | None = None, path: Path | None = None) -> dict[str, float]:
    """The values the data files ship for the free parameters of the registry at ``path``
    (default: the shipped one)."""
    from sermsim.outcomes.parameters import default_outcome_parameters
    from sermsim.physiology.simulate import default_engine

    out: dict[str, float] = {}
    for p in free_parameters(layer, path):
        if p.layer == "outcomes":
            out[p.name] = float(default_outcome_parameters()[p.name])
        else:
            out[p.name] = float(default_engine().physiology.values[p.name])
    return out


def posterior_path() -> Path:
    return data_dir() / "calibration" / "posterior.yaml"


@lru_cache(maxsize=4)
def _posterior(path: Path) -> dict[str, float]:
    raw = load_yaml(path)
    return {name: float(p["sd"]) for name, p in raw["parameters"].items()}


def posterior_sd(path: Path | None = None) -> dict[str, float]:
    """Each free parameter's posterior standard deviation (Laplace, at the shipped fit;
    ``data/calibration/posterior.yaml``, written by ``sermsim calibrate --no-fit``)."""
    return dict(_posterior(path or posterior_path()))
