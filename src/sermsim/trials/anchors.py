"""The physiology of a trial by anchors: who is simulated, and who stands for whom.

Each arm's physiology is simulated for a set of *anchors* (``physiology_anchors``, shared by
every arm): people drawn from the pooled populations, spread over every group that changes
the physiology (sex, menopausal stage, surgical menopause, CYP2D6 phenotype, measured labs)
and, within a group, over age and years since menopause. Every person takes the physiology
(relative to the same anchor untreated) of the nearest anchor in their group. The result,
:class:`AnchorPhysiology`, depends only on the spec (the pooled populations are the spec's),
so a sharded run computes it once and every shard reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sermsim.agents.regimen import Regimen, regimen_key
from sermsim.core.units import DAYS_PER_YEAR
from sermsim.physiology.simulate import Engine, solve_batch
from sermsim.trials.endpoints import biomarker
from sermsim.trials.population import Population
from sermsim.trials.records import AnchorPhysiology
from sermsim.trials.spec import TrialSpec

FloatArray = NDArray[np.float64]
Progress = Callable[[str, float], None]  # (message, fraction done)

# The physiology outputs the hazards read (trials.records._drivers).
DRIVER_OUTPUTS = (
    "signal:breast",
    "bmd_lumbar_spine_g_cm2",
    "bmd_total_hip_g_cm2",
    "ctx_ng_ml",
    "prothrombotic_index",
    "ldl_mg_dl",
    "endometrial_stimulation_mm",
)
_LAB_KEYS = ("estradiol_pg_ml", "testosterone_ng_dl", "lh_iu_l", "fsh_iu_l")
# People per block when each person's nearest anchor is found: the distance array is
# (people, anchors, features) floats, so a block bounds its memory (engineering, not science).
_ASSIGN_BLOCK = 50_000


def _group_keys(pop: Population) -> NDArray[Any]:
    c = pop.columns
    stage = np.where(
        ~np.asarray(c["female"], bool),
        "male",
        np.where(np.asarray(c["surgical_menopause"], bool), "surgical", c["menopause"].astype(str)),
    )
    labs = np.stack([~np.isnan(c[k].astype(float)) for k in _LAB_KEYS], axis=1)
    lab_key = ["".join("1" if x else "0" for x in row) for row in labs]
    return np.array(
        [
            f"{s}|{y}|{lab}"
            for s, y, lab in zip(stage, c["cyp2d6"].astype(str), lab_key, strict=True)
        ],
        dtype=object,
    )


def _features(pop: Population) -> FloatArray:
    c = pop.columns
    cols = [c["age"].astype(float), np.nan_to_num(c["years_since_menopause"].astype(float))]
    for k in _LAB_KEYS:
        cols.append(np.log(np.nan_to_num(c[k].astype(float), nan=1.0)))
    return np.stack(cols, axis=1)


@dataclass
class Anchors:
    people: list[Any]  # Patient objects
    assignment: dict[str, NDArray[np.int64]]  # arm -> anchor index per person


def _nearest(f: FloatArray, anchors: FloatArray, scale: FloatArray) -> NDArray[np.int64]:
    """The index (into ``anchors``) of the nearest anchor of each row of ``f``, in blocks."""
    out = np.empty(len(f), dtype=np.int64)
    for a in range(0, len(f), _ASSIGN_BLOCK):
        block = f[a : a + _ASSIGN_BLOCK]
        d = (((block[:, None, :] - anchors[None, :, :]) / scale) ** 2).sum(axis=2)
        out[a : a + _ASSIGN_BLOCK] = np.argmin(d, axis=1)
    return out


def choose_anchors(populations: Mapping[str, Population], budget: int) -> Anchors:
    """Anchors spread over the pooled population's groups and, within each, over its
    (age, years since menopause, labs) by evenly spaced ranks of age."""
    names = list(populations)
    pooled_keys = np.concatenate([_group_keys(populations[a]) for a in names])
    pooled_feat = np.concatenate([_features(populations[a]) for a in names])
    owner = np.concatenate([np.full(len(populations[a]), i) for i, a in enumerate(names)])
    row = np.concatenate([np.arange(len(populations[a])) for a in names])
    groups, counts = np.unique(pooled_keys, return_counts=True)
    total = len(pooled_keys)
    alloc = np.maximum(1, np.floor(budget * counts / total).astype(int))
    while alloc.sum() > max(budget, len(groups)) and alloc.max() > 1:
        alloc[np.argmax(alloc)] -= 1
    people: list[Any] = []
    anchor_feat: list[FloatArray] = []
    anchor_group: list[str] = []
    anchor_of = np.full(total, -1, dtype=np.int64)  # pooled person -> their own anchor
    for g, k in zip(groups, alloc, strict=True):
        members = np.flatnonzero(pooled_keys == g)
        order = members[np.argsort(pooled_feat[members, 0], kind="stable")]
        k = min(k, len(order))
        picks = order[((np.arange(k) + 0.5) * len(order) / k).astype(int)]
        for i in picks:
            pop = populations[names[owner[i]]]
            person = pop.patient(int(row[i]))
            if person.sex == "female" and not person.uterus:
                person = person.model_copy(update={"uterus": True})  # endometrial drive
            anchor_of[i] = len(people)
            people.append(person)
            anchor_feat.append(pooled_feat[i])
            anchor_group.append(str(g))
    feat = np.asarray(anchor_feat)
    scale = np.maximum(pooled_feat.std(axis=0), 1e-9)
    groups_a = np.asarray(anchor_group, dtype=object)
    assignment: dict[str, NDArray[np.int64]] = {}
    if np.all(anchor_of >= 0):  # everyone is an anchor: each person has their own physiology
        for i, a in enumerate(names):
            assignment[a] = anchor_of[owner == i]
        return Anchors(people, assignment)
    for a in names:
        keys = _group_keys(populations[a])
        f = _features(populations[a])
        idx = np.empty(len(keys), dtype=np.int64)
        for g in np.unique(keys):
            mine = np.flatnonzero(keys == g)
            cand = np.flatnonzero(groups_a == g)
            idx[mine] = cand[_nearest(f[mine], feat[cand], scale)]
        assignment[a] = idx
    return Anchors(people, assignment)


def anchor_physiology(
    spec: TrialSpec,
    populations: Mapping[str, Population],
    engine: Engine,
    grid: FloatArray,
    progress: Progress | None = None,
    extra_outputs: tuple[str, ...] = (),
) -> AnchorPhysiology:
    """Choose the anchors from the pooled populations and simulate them, untreated and on
    every arm's regimen, on ``grid`` (years); ``extra_outputs`` are kept beside the drivers
    (``signal:<tissue>``, ``drug_occupancy:<tissue>``, biomarkers)."""
    anchors = choose_anchors(populations, spec.anchors)
    outputs = tuple(
        sorted(
            set(DRIVER_OUTPUTS)
            | {biomarker(e.name) for e in spec.endpoints if not e.is_event}
            | set(extra_outputs)
        )
    )
    days = grid * DAYS_PER_YEAR
    keys: list[tuple[str, float]] = []
    regimens: list[tuple[Regimen, float | None]] = [((), None)]
    for arm in spec.arms:
        key = (regimen_key(arm.regimen), arm.treatment_years)  # exact: adherence too
        if key not in keys and arm.regimen:
            keys.append(key)
            stop = None if arm.treatment_years >= spec.duration_years else arm.treatment_years
            regimens.append((arm.regimen, None if stop is None else stop * DAYS_PER_YEAR))
    if progress:
        progress(f"physiology: {len(anchors.people)} anchors x {len(regimens)} regimens", 0.1)
    solved = solve_batch(
        anchors.people,
        regimens,
        spec.duration_years,
        days,
        outputs,
        engine=engine,
        seeds=list(range(len(anchors.people))),
        on_regimen=(
            (
                lambda i: progress(
                    f"physiology: regimen {i + 1} of {len(regimens)}", 0.1 + 0.7 * i / len(regimens)
                )
            )
            if progress
            else None
        ),
    )
    results = solved.values
    treated = {k: r for k, r in zip(keys, results[1:], strict=True)}
    return AnchorPhysiology(
        len(anchors.people), results[0], treated, anchors.assignment, solved.failures
    )
