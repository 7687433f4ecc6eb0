"""The sources of every number a comparison shows, from the data files themselves.

Each outcome parameter and table (baseline incidences, risk factors, the links from the
physiology to the events) is listed with its source, whether it was checked and what it was
fitted to; the compared agents' standard doses likewise; the index weights; and, for the
physiology, selectivity, receptor and PK files, how many sourced records each holds and how
many were checked (their every record is in the file, with its source).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sermsim.agents import Agent
from sermsim.agents.regimen import Regimen
from sermsim.compare.options import raw_compare
from sermsim.core.params import data_dir, data_files, is_param, is_sourced_record, load_yaml
from sermsim.outcomes.parameters import raw_outcomes


def _records(node: Any, where: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if is_param(node) or is_sourced_record(node):
        yield where, node
        return
    if isinstance(node, Mapping):
        for key, child in node.items():
            yield from _records(child, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _records(child, f"{where}[{i}]")


def _entry(what: str, rec: Mapping[str, Any], file: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "what": what,
        "file": file,
        "source": " ".join(str(rec.get("source", "")).split()),
        "verified": bool(rec.get("verified", False)),
    }
    if "value" in rec:
        out["value"] = rec["value"]
        out["unit"] = rec.get("unit", "")
    if rec.get("calibrated_to"):
        out["calibrated_to"] = " ".join(str(rec["calibrated_to"]).split())
    return out


def sources(options: Sequence[Regimen], agents: Mapping[str, Agent]) -> list[dict[str, Any]]:
    """Every sourced record behind a comparison's numbers (see the module docstring)."""
    out = [
        _entry(f"index weight: {name}", rec, "compare.yaml")
        for name, rec in _records(raw_compare()["severity_weights"], "")
    ]
    out += [
        _entry(what, rec, "outcomes/outcomes.yaml") for what, rec in _records(raw_outcomes(), "")
    ]
    gail = load_yaml(data_dir() / "outcomes" / "gail.yaml")
    out += [_entry(f"Gail model: {w}", rec, "outcomes/gail.yaml") for w, rec in _records(gail, "")]
    for agent_id in sorted({d.agent for r in options for d in r}):
        raw = load_yaml(data_dir() / "agents" / f"{agent_id}.yaml")
        for key in ("standard_dose", "standard_interval"):
            if key in raw:
                out.append(
                    _entry(f"{agents[agent_id].name}: {key}", raw[key], f"agents/{agent_id}.yaml")
                )
    root = data_dir()
    for path in data_files(root):
        rel = str(path.relative_to(root))
        if rel.startswith(("outcomes/", "validation/")) or rel == "compare.yaml":
            continue
        recs = list(_records(load_yaml(path), ""))
        if recs:
            checked = sum(bool(r.get("verified")) for _, r in recs)
            out.append(
                {
                    "what": f"{len(recs)} sourced records ({checked} checked) of {rel}",
                    "file": rel,
                    "source": "each record's own source, in the file",
                    "verified": checked == len(recs),
                }
            )
    return out
