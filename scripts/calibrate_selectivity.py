"""Calibrate the selectivity layer's unmeasured parameters to data/selectivity_targets.yaml.

Free: each tissue's coactivator and corepressor availability, basal activity and gain; each
SERM's coregulator signature (one coactivator and one corepressor strength per conformation
class, shared by ERα and ERβ and by the moieties of a class); and the tissue partition of
moieties listed in FREE_PARTITION (no measurement exists). Fixed: everything measured (PK,
binding, estradiol exposure, ER subtype mix). The targets are intervals; the residual of a
target is its distance outside its interval, narrowed by a tenth of its width on each side (in
units of 0.05 signal), plus a weak pull (0.05 per log-unit) towards the starting values so
that parameters the targets leave free stay put.
Plasma concentrations do not depend on the free parameters, so they are computed once.

Run:  .venv/bin/python scripts/calibrate_selectivity.py [--write]
With --write the fitted values are written back into the data files (comments kept).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import least_squares

from sermsim.agents import load_agents, parse_regimen
from sermsim.core.params import data_dir, load_yaml
from sermsim.receptor import (
    TISSUES,
    TissueExposure,
    endogenous_estradiol_pg_ml,
    ligand_set,
    occupancy,
    plasma_vector,
    saturating_shares,
    site_concentrations,
    tissue_exposure,
)
from sermsim.receptor.ligands import ESTRADIOL
from sermsim.selectivity import TissueParams, tissue_params, tissue_signal
from sermsim.selectivity.profile import steady_state_plasma

GROUPS = {  # conformation classes: moieties that share one coregulator signature
    "tamoxifen": (
        "tamoxifen",
        ["tamoxifen", "n_desmethyltamoxifen", "hydroxytamoxifen", "endoxifen"],
    ),
    "raloxifene": ("raloxifene", ["raloxifene"]),
    "bazedoxifene": ("bazedoxifene", ["bazedoxifene"]),
    "lasofoxifene": ("lasofoxifene", ["lasofoxifene"]),
    "ospemifene": ("ospemifene", ["ospemifene"]),
    "zuclomiphene": ("clomiphene", ["zuclomiphene"]),
    "enclomiphene": ("clomiphene", ["enclomiphene"]),
}
TISSUE_FREE = ("coactivator", "corepressor", "basal", "gain")
BOUNDS = {
    "coactivator_l": (1e-3, 2.0),
    "corepressor_l": (1e-3, 10.0),
    "coactivator": (0.05, 50.0),
    "corepressor": (0.01, 50.0),
    "basal": (1e-3, 0.2),
    "gain": (0.5, 200.0),
}
RESIDUAL_SCALE = 0.05
PRIOR_WEIGHT = 0.05
MARGIN = 0.1  # aim inside each interval by this fraction of its width
FREE_PARTITION = {"bazedoxifene": ("bazedoxifene", (0.1, 50.0))}  # moiety: (agent file, bounds)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()

    agents = load_agents()
    ligands = ligand_set(agents, list(agents))
    exposure = tissue_exposure()
    no_local = TissueExposure(exposure.estradiol_uptake, np.zeros(len(TISSUES)))
    kd = jnp.asarray(ligands.kd)
    t0 = tissue_params()
    target_file = load_yaml(data_dir() / "selectivity_targets.yaml")
    targets = target_file["targets"]
    relations = target_file.get("relations", [])

    fu = ligands.available_fraction
    e2 = ligands.index(ESTRADIOL)

    def e2_stage(tg) -> float:
        if "estradiol_pg_ml" in tg:
            return float(tg["estradiol_pg_ml"])
        return endogenous_estradiol_pg_ml(tg["stage"])

    def site_parts(plasma, expo):
        """Site concentrations split into a part proportional to each moiety's partition
        coefficient (drugs) and a fixed part (estradiol)."""
        full = site_concentrations(ligands, plasma, expo)  # (P, T, L)
        unit = plasma[..., None, :] * fu * np.ones((len(TISSUES), 1))
        unit[..., e2] = 0.0
        fixed = np.zeros_like(full)
        fixed[..., e2] = full[..., e2]
        return jnp.asarray(unit), jnp.asarray(fixed)

    prepared = []
    for tg in targets:
        t = TISSUES.index(tg["tissue"])
        if tg["quantity"] == "baseline_signal":
            plasma = plasma_vector(ligands, e2_stage(tg), {})[None, :]
            prepared.append(("level", t, site_parts(plasma, exposure), None))
            continue
        drug = steady_state_plasma(parse_regimen(tg["regimen"], agents), agents)
        if tg["quantity"] == "intrinsic_activity":
            plasma = plasma_vector(ligands, 0.0, drug).mean(axis=0)[None, :]
            prepared.append(("ia", t, site_parts(plasma, no_local), None))
        else:  # net_change (or relative to the menopausal drop) over the steady-state interval
            with_drug = plasma_vector(ligands, e2_stage(tg), drug)
            alone = plasma_vector(ligands, e2_stage(tg), {})[None, :]
            ref = (site_parts(alone, exposure),)
            if tg["quantity"] == "net_change_relative":
                pre = plasma_vector(ligands, endogenous_estradiol_pg_ml("premenopausal"), {})[
                    None, :
                ]
                post = plasma_vector(ligands, endogenous_estradiol_pg_ml("postmenopausal"), {})[
                    None, :
                ]
                ref += (site_parts(pre, exposure), site_parts(post, exposure))
            prepared.append(("net", t, site_parts(with_drug, exposure), ref))
    lows = np.array([tg["low"] for tg in targets])
    highs = np.array([tg["high"] for tg in targets])
    width = highs - lows
    lo = jnp.asarray(lows + MARGIN * width)
    hi = jnp.asarray(highs - MARGIN * width)

    # Parameter vector (log space): per group (coactivator, corepressor), then per tissue,
    # then the free partition coefficients.
    index = {m: ligands.index(m) for _, ms in GROUPS.values() for m in ms}
    x0, lb, ub, names = [], [], [], []
    for g, (_, ms) in GROUPS.items():
        m = index[ms[0]]
        for k, arr in (
            ("coactivator_l", ligands.coactivator),
            ("corepressor_l", ligands.corepressor),
        ):
            x0.append(np.log(max(arr[m, 0], 1e-3)))
            lb.append(np.log(BOUNDS[k][0]))
            ub.append(np.log(BOUNDS[k][1]))
            names.append(f"{g}.{k[:-2]}")
    for i, t in enumerate(TISSUES):
        for f in TISSUE_FREE:
            x0.append(np.log(getattr(t0, f)[i]))
            lb.append(np.log(BOUNDS[f][0]))
            ub.append(np.log(BOUNDS[f][1]))
            names.append(f"{t}.{f}")
    for m, (_, (b_lo, b_hi)) in FREE_PARTITION.items():
        x0.append(np.log(ligands.tissue_partition[ligands.index(m)]))
        lb.append(np.log(b_lo))
        ub.append(np.log(b_hi))
        names.append(f"{m}.tissue_partition")
    x0 = np.clip(np.array(x0), np.array(lb) + 1e-9, np.array(ub) - 1e-9)
    n_g = 2 * len(GROUPS)
    n_t = len(TISSUES) * len(TISSUE_FREE)
    free_kp = jnp.asarray([ligands.index(m) for m in FREE_PARTITION], dtype=int)

    def unpack(x):
        coact = jnp.asarray(ligands.coactivator)
        corep = jnp.asarray(ligands.corepressor)
        for j, (_, ms) in enumerate(GROUPS.values()):
            ids = jnp.asarray([index[m] for m in ms])
            coact = coact.at[ids, :].set(jnp.exp(x[2 * j]))
            corep = corep.at[ids, :].set(jnp.exp(x[2 * j + 1]))
        tp = jnp.exp(x[n_g : n_g + n_t]).reshape(len(TISSUES), len(TISSUE_FREE))
        tissues = TissueParams(
            er_alpha_share=t0.er_alpha_share,
            er_beta_coupling=t0.er_beta_coupling,
            coactivator=tp[:, 0],
            corepressor=tp[:, 1],
            basal=tp[:, 2],
            gain=tp[:, 3],
        )
        kp = jnp.asarray(ligands.tissue_partition).at[free_kp].set(jnp.exp(x[n_g + n_t :]))
        return coact, corep, tissues, kp

    def signal(parts, kp, coact, corep, tissues, saturate=False):
        unit, fixed = parts
        site = unit * kp + fixed
        occ = saturating_shares(site, kd) if saturate else occupancy(site, kd)
        return tissue_signal(jnp.nan_to_num(occ), coact, corep, tissues).mean(axis=0)

    def values(x):
        coact, corep, tissues, kp = unpack(x)
        out = []
        for kind, t, parts, ref in prepared:
            sig = signal(parts, kp, coact, corep, tissues, saturate=kind == "ia")
            if kind == "net":
                sig = sig - signal(ref[0], kp, coact, corep, tissues)
                if len(ref) == 3:
                    drop = signal(ref[1], kp, coact, corep, tissues) - signal(
                        ref[2], kp, coact, corep, tissues
                    )
                    sig = sig / drop
            out.append(sig[t])
        return jnp.stack(out)

    # aim inside each relation too: ratio at least 10 % above its minimum
    rel_idx = [
        (
            names.index(r["greater"]),
            names.index(r["lesser"]),
            np.log(r["ratio_at_least"]) + np.log(1.0 + MARGIN),
        )
        for r in relations
    ]

    def residuals(x):
        v = values(x)
        out = (jnp.maximum(lo - v, 0.0) + jnp.maximum(v - hi, 0.0)) / RESIDUAL_SCALE
        # log-ratio shortfall of each relation, in the same units as a 0.05 signal miss
        rel = (
            jnp.asarray(
                [jnp.maximum(log_min - (x[g] - x[s]), 0.0) / 0.05 for g, s, log_min in rel_idx]
            )
            if rel_idx
            else jnp.zeros(0)
        )
        return jnp.concatenate([out, rel, PRIOR_WEIGHT * (x - x0)])

    res = jax.jit(residuals)
    jac = jax.jit(jax.jacfwd(residuals))
    fit = least_squares(
        lambda x: np.asarray(res(x)),
        x0,
        jac=lambda x: np.asarray(jac(x)),
        bounds=(lb, ub),
        xtol=1e-10,
        ftol=1e-10,
        max_nfev=2000,
    )
    v = np.asarray(values(fit.x))
    print(f"cost {fit.cost:.4g}, status {fit.status}")
    for tg, val in zip(targets, v, strict=True):
        ok = tg["low"] - 1e-6 <= val <= tg["high"] + 1e-6
        where = tg.get("stage", tg.get("estradiol_pg_ml", ""))
        print(
            f"{'ok ' if ok else 'OUT'} {tg['regimen'][:32]:>32s} {tg['tissue']:>16s} "
            f"{tg['quantity'][:9]:>9s} {where!s:>14s} {val:+.3f} "
            f"in [{tg['low']:+.2f}, {tg['high']:+.2f}]"
        )
    fitted = dict(zip(names, np.exp(fit.x), strict=True))
    for r in relations:
        ratio = fitted[r["greater"]] / fitted[r["lesser"]]
        ok = ratio >= r["ratio_at_least"] * (1 - 1e-6)
        print(
            f"{'ok ' if ok else 'OUT'} {r['greater']} / {r['lesser']} = {ratio:.3g} "
            f">= {r['ratio_at_least']}"
        )
    for k, val in fitted.items():
        print(f"  {k:32s} {val:.4g}")
    if args.write:
        write(fitted)


def write(fitted: dict[str, float]) -> None:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    root = data_dir()

    def update(path: Path, edit) -> None:
        doc = yaml.load(path)
        edit(doc)
        with path.open("w", encoding="utf-8") as fh:
            yaml.dump(doc, fh)

    def edit_tissues(doc):
        for t in TISSUES:
            for f in TISSUE_FREE:
                doc["tissues"][t][f]["value"] = float(f"{fitted[f'{t}.{f}']:.4g}")

    update(root / "tissues.yaml", edit_tissues)
    for g, (agent, moieties) in GROUPS.items():

        def edit_agent(doc, g=g, moieties=moieties):
            for m in doc["moieties"]:
                if m["id"] in moieties:
                    for r in ("era", "erb"):
                        for k in ("coactivator", "corepressor"):
                            m[r]["coregulator"][k]["value"] = float(f"{fitted[f'{g}.{k}']:.4g}")

        update(root / "agents" / f"{agent}.yaml", edit_agent)
    for moiety, (agent, _) in FREE_PARTITION.items():

        def edit_kp(doc, moiety=moiety):
            for m in doc["moieties"]:
                if m["id"] == moiety:
                    m["tissue_partition"]["value"] = float(
                        f"{fitted[f'{moiety}.tissue_partition']:.4g}"
                    )

        update(root / "agents" / f"{agent}.yaml", edit_kp)
    print("written")


if __name__ == "__main__":
    main()
