"""Steady-state levels against published values.

Where a clearance was derived from a published AUC or average level, the average is
reproduced by construction; those are not tested as if they were predictions. What is tested
here is what the construction does not force: peaks (absorption and volume), accumulation,
other doses, CYP2D6 phenotypes and independent data sets.
"""

from __future__ import annotations

import numpy as np
import pytest

from sermsim.pk import build_pk, cyp2d6_activity, periodic_steady_state

GRID = np.linspace(0.0, 24.0, 2401)


def ss_ng_ml(agents, agent_id: str, dose_mg: float, phenotype: str = "normal"):
    agent = agents[agent_id]
    pk = build_pk(agent, cyp2d6_activity(phenotype))
    conc_nM = pk.concentrations(periodic_steady_state(pk, dose_mg, 24.0, GRID))
    mw = np.array([m.molecular_weight for m in agent.moieties])
    return dict(zip(pk.moieties, (conc_nM * mw / 1000.0).T, strict=True)), dict(
        zip(pk.moieties, conc_nM.T, strict=True)
    )


def test_tamoxifen_40mg_steady_state_matches_label(agents):
    # Swiss Fachinformation: steady state about 300 ng/mL at 40 mg/day (checked). The model's
    # clearance comes from a different data set (20 mg/day troughs), so this is a prediction.
    ng, _ = ss_ng_ml(agents, "tamoxifen", 40.0)
    assert 0.65 * 300 <= ng["tamoxifen"].mean() <= 1.35 * 300


def test_normal_metaboliser_levels_reproduce_the_medians_they_were_derived_from(agents):
    """A construction check, not a prediction: tamoxifen.yaml's clearances were set from these
    medians, so this guards the code path (formation fractions, molar conversion), and the
    label's tamoxifen range is the only independent bound here."""
    _, nM = ss_ng_ml(agents, "tamoxifen", 20.0)
    # PMC4756062 Table 2 (weak-inhibitor arm), medians with IQR: tamoxifen 290, NDM 560,
    # 4-OHT 3.25, endoxifen 16.3 (7.05-30.8) nM; US label tamoxifen 71-183 ng/mL = 191-493 nM.
    assert 191 <= nM["tamoxifen"].mean() <= 493
    assert 400 <= nM["n_desmethyltamoxifen"].mean() <= 750
    assert 1.5 <= nM["hydroxytamoxifen"].mean() <= 6.0
    assert 7.05 <= nM["endoxifen"].mean() <= 30.8


def test_endoxifen_by_cyp2d6_phenotype(agents):
    endox = {
        p: ss_ng_ml(agents, "tamoxifen", 20.0, p)[1]["endoxifen"].mean()
        for p in ("poor", "intermediate", "normal", "ultrarapid")
    }
    # Construction checks: cyp2d6.yaml's activities were calibrated to these two ratios
    # (Swiss label: 75 % lower in poor metabolisers; Jin 2005: intermediate 0.55 of normal).
    assert endox["poor"] / endox["normal"] == pytest.approx(0.25, abs=0.05)
    assert endox["intermediate"] / endox["normal"] == pytest.approx(0.55, abs=0.08)
    # Independent: the paroxetine (potent CYP2D6 inhibitor) arm of PMC4756062, 5.20
    # (3.48-10.6) nM, a phenocopy of poor metabolism that no parameter was fitted to.
    assert 3.48 <= endox["poor"] <= 10.6
    assert endox["poor"] < endox["intermediate"] < endox["normal"] < endox["ultrarapid"]


def test_poor_metabolisers_keep_parent_and_ndm(agents):
    poor = ss_ng_ml(agents, "tamoxifen", 20.0, "poor")[1]
    normal = ss_ng_ml(agents, "tamoxifen", 20.0, "normal")[1]
    # CYP2D6 is a minor route for tamoxifen and NDM: levels change by well under 25 %.
    for m in ("tamoxifen", "n_desmethyltamoxifen"):
        assert 1.0 <= poor[m].mean() / normal[m].mean() < 1.25


def test_raloxifene_steady_state_peak(agents):
    # Evista label Table 1: multiple-dose Cmax 1.36 (ng/mL)/(mg/kg); 60 mg in 70 kg -> 1.17.
    ng, _ = ss_ng_ml(agents, "raloxifene", 60.0)
    assert 0.7 * 1.17 <= ng["raloxifene"].max() <= 1.3 * 1.17


def test_lasofoxifene_steady_state_peak(agents):
    # Gardner 2006: Cmax 6.43 ng/mL at 1 mg/day (clearance came from the AUC, not the peak).
    ng, _ = ss_ng_ml(agents, "lasofoxifene", 1.0)
    assert 0.75 * 6.43 <= ng["lasofoxifene"].max() <= 1.25 * 6.43


def test_conjugated_estrogens_total_estrone_peak(agents):
    # Duavee label Table 2: baseline-adjusted total estrone Cmax 2.6 +/- 0.8 ng/mL at 0.45 mg.
    ng, _ = ss_ng_ml(agents, "conjugated_estrogens", 0.45)
    assert 2.6 - 0.8 <= ng["conjugated_estrone"].max() <= 2.6 + 0.8


def test_ospemifene_accumulation_ratio(agents):
    # Osphena label: accumulation about 2 after daily dosing; steady state by day 9.
    pk = build_pk(agents["ospemifene"])
    from sermsim.pk import simulate

    times = np.arange(0.0, 24 * 30, 24.0)
    _grid, states = simulate(pk, times, np.full(30, 60.0), 24 * 30.0, step_h=0.25)
    c = pk.concentrations(states)[:, 0]
    per_day = 96
    auc_first = c[:per_day].mean()
    auc_ss = c[-per_day:].mean()
    assert 1.6 <= auc_ss / auc_first <= 2.6
    day9 = c[8 * per_day : 9 * per_day].mean()
    assert day9 / auc_ss > 0.9


@pytest.mark.xfail(
    strict=True,
    reason="one compartment per moiety: averages right, early "
    "distribution-phase peaks under-estimated (bazedoxifene tmax 1.7 h)",
)
def test_bazedoxifene_steady_state_peak(agents):
    # Conbriza SmPC: multiple-dose Cmax 6.2 +/- 2.2 ng/mL at 20 mg/day.
    ng, _ = ss_ng_ml(agents, "bazedoxifene", 20.0)
    assert 6.2 - 2.2 <= ng["bazedoxifene"].max() <= 6.2 + 2.2


def test_clomiphene_zuclomiphene_accumulates_across_cycles_enclomiphene_does_not(agents):
    # Young SL et al. Fertil Steril 1999: day-3 zuclomiphene rises over consecutive cycles
    # while enclomiphene is undetectable; ASRM 2006: zuclomiphene detectable > 1 month.
    from sermsim.agents import Dose
    from sermsim.pk import dose_times, simulate

    pk = build_pk(agents["clomiphene"])
    dose = Dose(agent="clomiphene", dose_mg=50, start_day=4, days_on=5, cycle_days=28)
    t_end = 24 * 28 * 4.0
    times = dose_times(dose, t_end)
    _grid, states = simulate(pk, times, np.full(len(times), 50.0), t_end, step_h=24.0)
    c = pk.concentrations(states)
    day3 = [28 * k + 2 for k in range(1, 4)]  # cycle day 3 of cycles 2-4
    zuc = c[day3, 0]
    enc = c[day3, 1]
    assert zuc[0] < zuc[1] < zuc[2]
    assert np.all(enc < 0.01 * zuc)
