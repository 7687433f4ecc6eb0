"""The agent library: every agent of TRIAL_SPEC.md, consistent structure."""

from __future__ import annotations

import pytest

from sermsim.agents import RECEPTORS

REQUIRED = {
    "estradiol",
    "conjugated_estrogens",
    "medroxyprogesterone_acetate",
    "tamoxifen",
    "raloxifene",
    "bazedoxifene",
    "ospemifene",
    "clomiphene",
    "enclomiphene",
    "lasofoxifene",
}


def test_every_required_agent_is_shipped(agents):
    assert set(agents) >= REQUIRED


def test_tamoxifen_has_its_active_metabolites_and_enzymes(agents):
    tam = agents["tamoxifen"]
    assert set(tam.moiety_ids()) == {
        "tamoxifen",
        "n_desmethyltamoxifen",
        "hydroxytamoxifen",
        "endoxifen",
    }
    enzymes = {f.enzyme for m in tam.moieties for f in m.formed_from}
    assert {"CYP2D6", "CYP3A4"} <= enzymes


def test_clomiphene_is_two_isomers_and_enclomiphene_one(agents):
    assert dict(agents["clomiphene"].administered).keys() == {"zuclomiphene", "enclomiphene"}
    assert sum(f for _, f in agents["clomiphene"].administered) == pytest.approx(1.0)
    assert agents["enclomiphene"].moiety_ids() == ("enclomiphene",)
    # the enclomiphene agent takes the isomer's substance properties from clomiphene's file
    a = agents["enclomiphene"].moieties[0]
    b = agents["clomiphene"].moiety("enclomiphene")
    assert (a.binding, a.available_fraction) == (b.binding, b.available_fraction)


def test_medroxyprogesterone_does_not_bind_er(agents):
    assert not agents["medroxyprogesterone_acetate"].binds_er


def test_every_serm_binds_both_receptors_with_a_signature(agents):
    for agent in agents.values():
        if agent.agent_class != "serm":
            continue
        for m in agent.moieties:
            assert set(m.binding) == set(RECEPTORS), (agent.id, m.id)
            for b in m.binding.values():
                assert b.rba > 0 and b.coactivator >= 0 and b.corepressor >= 0


def test_lasofoxifene_has_no_clinical_calibration(agents):
    """Its clinical results must be predictions: no parameter of its own is calibrated."""
    spec = agents["lasofoxifene"].spec
    text = spec.model_dump_json()
    calibrated = text.count('"calibrated_to":"data/selectivity_targets.yaml (intrinsic')
    # only its coregulator signature is calibrated, and only to preclinical tissue assays
    assert calibrated == 4
    assert "trials.yaml" not in text


def test_physical_quantities_are_positive(agents):
    for agent in agents.values():
        assert agent.standard_dose_mg > 0 and agent.ka > 0
        for m in agent.moieties:
            assert m.clearance > 0 and m.volume > 0 and m.molecular_weight > 0
            assert 0 < m.available_fraction <= 1
