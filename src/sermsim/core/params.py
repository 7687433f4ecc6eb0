"""Sourced parameters: the one record every number in a data file is written as.

A parameter in a data file is a mapping with ``value``, ``unit``, ``source`` and ``verified``
(whether the value was checked in the source's own text), optionally a ``note``, the
``derived`` formula it was computed by, or ``calibrated_to`` (what it was fitted to; required
when the source says it was calibrated). :func:`find_unsourced` walks a loaded file and lists
every number that is not inside such a record, so a test can fail on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from sermsim.core.errors import DataError

PARAM_KEYS = frozenset({"value", "unit", "source", "verified", "note", "derived", "calibrated_to"})


class Param(BaseModel):
    """One sourced number.

    >>> Param(value=0.1, unit="nM", source="Kuiper 1997", verified=True).value
    0.1
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: float
    unit: str
    source: str
    verified: bool
    note: str | None = None
    derived: str | None = None
    calibrated_to: str | None = None

    @model_validator(mode="after")
    def _calibrated_says_to_what(self) -> Param:
        if self.source.strip().lower().startswith("calibrated") and not self.calibrated_to:
            raise ValueError("a calibrated parameter must say what it was calibrated_to")
        if not self.source.strip():
            raise ValueError("source must not be empty")
        return self


def data_dir() -> Path:
    """The folder of shipped data files (agents, tissues, endogenous hormones)."""
    return Path(str(resources.files("sermsim") / "data"))


def load_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML data file into plain Python objects."""
    try:
        with path.open(encoding="utf-8") as fh:
            content = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: cannot be read as YAML ({exc})") from exc
    if not isinstance(content, dict):
        raise DataError(f"{path}: top level must be a mapping")
    return content


def as_param(node: Any, where: str) -> Param:
    """Validate a loaded mapping as a :class:`Param`, naming where it sits when it is not one."""
    try:
        return Param.model_validate(node)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise DataError(f"{where}{'.' + loc if loc else ''}: {first['msg']}") from exc


def is_param(node: Any) -> bool:
    """True for a mapping shaped like a sourced parameter (it has a ``value``)."""
    return isinstance(node, dict) and "value" in node


def is_sourced_record(node: Any) -> bool:
    """True for a non-parameter record that carries its own ``source`` and ``verified`` (a
    calibration target interval, say): its numbers are covered by its source."""
    return isinstance(node, dict) and "value" not in node and {"source", "verified"} <= set(node)


def find_unsourced(node: Any, where: str = "") -> Iterator[str]:
    """Yield the location of every number not written as a complete sourced parameter (or
    covered by a record with its own source: its own numbers and the plain records nested in
    it, such as a target's patient; parameters nested in it are still checked).

    >>> list(find_unsourced({"a": {"value": 1, "unit": "h", "source": "x", "verified": False},
    ...                      "b": 2.0}))
    ['.b']
    """
    yield from _walk(node, where, covered=False)


def _walk(node: Any, where: str, *, covered: bool) -> Iterator[str]:
    if is_param(node):
        try:
            Param.model_validate(node)
        except ValidationError as exc:
            yield f"{where} ({exc.errors()[0]['msg']})"
        return
    if not covered and is_sourced_record(node):
        if not str(node["source"]).strip():
            yield f"{where} (empty source)"
        covered = True
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _walk(child, f"{where}.{key}", covered=covered)
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _walk(child, f"{where}[{i}]", covered=covered)
    elif isinstance(node, int | float) and not isinstance(node, bool) and not covered:
        yield where


def data_files(root: Path | None = None) -> list[Path]:
    """Every data file under ``root`` (default: the shipped ones), in a stable order."""
    return sorted((root or data_dir()).rglob("*.yaml"))


def parameters_sha256(root: Path | None = None) -> str:
    """A digest of every data file under ``root`` (default: the shipped ones): the provenance
    of a result's parameters."""
    digest = hashlib.sha256()
    root = root or data_dir()
    for path in data_files(root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
