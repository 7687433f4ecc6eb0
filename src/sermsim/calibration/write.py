"""``sermsim calibrate --write``: put fitted values into the shipped data files, keeping their
comments and layout (ruamel.yaml, a development dependency: this is a maintainer's action).

Each written entry becomes ``source: calibrated``, ``verified: false`` (a fitted value is not
a value read in a source), with ``calibrated_to`` naming its targets; an entry that was a
prior keeps that prior's source in its ``note``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sermsim.calibration.free import Block
from sermsim.core.errors import SpecError
from sermsim.core.params import data_dir
from sermsim.trials import validate

FILES = {"outcomes": ("outcomes", "outcomes.yaml"), "physiology": ("physiology.yaml",)}


def calibrated_to(block: Block) -> str:
    """What a block's values were fitted to, in words."""
    if block.layer == "outcomes":
        manifest = {t.id: t for t in validate.load_targets()}
        what = "; ".join(f"{manifest[i].trial} {manifest[i].endpoint}" for i in block.targets)
        return f"trials.yaml via data/validation/targets.yaml: {what}"
    return f"data/physiology_targets.yaml, block {block.name}: {', '.join(block.targets)}"


def _yaml() -> Any:
    try:
        from ruamel.yaml import YAML
    except ImportError:  # pragma: no cover - ruamel.yaml is in the dev extra
        raise SpecError(
            "write", True, "install the development extra (pip install -e '.[dev]')"
        ) from None
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def write_values(
    values: Mapping[str, float], blocks: Sequence[Block], root: Path | None = None
) -> list[Path]:
    """Write ``values`` (dotted name -> value) of ``blocks`` into the data files under
    ``root`` (default: the shipped data)."""
    yaml = _yaml()
    root = root or data_dir()
    written = []
    for layer in ("physiology", "outcomes"):
        mine = [b for b in blocks if b.layer == layer]
        if not mine:
            continue
        path = root.joinpath(*FILES[layer])
        doc = yaml.load(path)
        for block in mine:
            fitted_to = calibrated_to(block)
            for name in block.names:
                node = doc
                for part in name.split("."):
                    node = node[part]
                if node.get("source") != "calibrated":
                    prior = f"prior before calibration: {node.get('source')}"
                    if node.get("derived"):
                        prior += f" (derived: {node.pop('derived')})"
                    node["note"] = f"{node['note']}; {prior}" if node.get("note") else prior
                    node["source"] = "calibrated"
                node["value"] = float(f"{values[name]:.6g}")
                node["verified"] = False
                node["calibrated_to"] = fitted_to
        with path.open("w", encoding="utf-8") as fh:
            yaml.dump(doc, fh)
        written.append(path)
    return written
