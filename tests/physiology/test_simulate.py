"""The physiology through the public simulate function: natural history, life-stage hormone
levels, the HPG response to estrogen blockade, batches (the engine against a tight reference
solve is in test_engine_reference.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sermsim.agents import parse_regimen
from sermsim.physiology.patient import patient_from_mapping
from sermsim.physiology.simulate import default_engine, simulate, simulate_batch

ENGINE = default_engine()


def run(patient: dict, regimen: str = "none", years: float = 1.0):
    return simulate(patient_from_mapping(patient), parse_regimen(regimen, ENGINE.agents), years)


@pytest.fixture(scope="module")
def postmenopausal_decade():
    return run(
        {"sex": "female", "age": 60, "menopause": "post", "years_since_menopause": 9}, years=10
    )


def test_untreated_woman_stays_on_her_natural_course(postmenopausal_decade):
    ds = postmenopausal_decade
    # Hormones, turnover and liver markers do not drift (nothing but ageing moves them).
    for name in [
        "lh_iu_l",
        "fsh_iu_l",
        "estradiol_pg_ml",
        "ldl_mg_dl",
        "fibrinogen_g_l",
        "vaginal_ph",
    ]:
        x = ds[name].values
        assert np.max(np.abs(x / x[0] - 1.0)) < 0.02, name
    # Bone: steady age-related loss, within the published postmenopausal rates (0.5-1.5 %/y).
    for site in ("lumbar_spine", "total_hip", "femoral_neck"):
        x = ds[f"bmd_{site}_g_cm2"].values
        assert np.all(np.diff(x) < 0)
        rate = 100.0 * (1.0 - (x[-1] / x[0]) ** (1 / 10))
        assert 0.4 < rate < 1.5, (site, rate)
    # Hot flushes subside with years since menopause.
    hf = ds["hot_flushes_per_day"].values
    assert hf[-1] <= hf[0]


def test_premenopausal_hormones_in_published_ranges():
    ds = run({"sex": "female", "age": 35, "menopause": "pre"})
    e2, lh, fsh = (float(ds[n][-1]) for n in ("estradiol_pg_ml", "lh_iu_l", "fsh_iu_l"))
    assert 48 <= e2 <= 134  # NHS II geometric means: follicular ~48, luteal ~134 pg/mL
    assert 2.0 <= lh <= 15.0  # follicular/luteal reference ranges (Rotherham NHS)
    assert 3.0 <= fsh <= 12.5  # follicular FSH reference range


def test_postmenopausal_hormones_in_published_ranges(postmenopausal_decade):
    ds = postmenopausal_decade
    e2, lh, fsh = (float(ds[n][0]) for n in ("estradiol_pg_ml", "lh_iu_l", "fsh_iu_l"))
    assert e2 < 7.0  # Verdonk 2019: postmenopausal reference < 7 pg/mL (LC-MS/MS)
    assert 19.7 <= lh <= 36.6  # n = 928 cohort IQR
    assert 88.8 <= fsh <= 171.7


def test_transition_raises_gonadotropins_and_lowers_estradiol():
    ds = run({"sex": "female", "age": 49, "menopause": "pre"}, years=6)
    e2, fsh = ds["estradiol_pg_ml"].values, ds["fsh_iu_l"].values
    assert e2[-1] < 0.2 * e2[0]
    assert fsh[-1] > 5 * fsh[0]


def test_estrogen_blockade_raises_gonadotropins_and_ovarian_estradiol():
    pre = {"sex": "female", "age": 35, "menopause": "pre"}
    base, tam = run(pre, years=0.5), run(pre, "tamoxifen", years=0.5)
    for name in ("lh_iu_l", "fsh_iu_l", "estradiol_pg_ml"):
        assert float(tam[name][-1]) > 1.3 * float(base[name][-1]), name


def test_estrogen_blockade_raises_testosterone_in_men():
    man = {"sex": "male", "age": 40}
    base, clo = run(man, years=0.5), run(man, "clomiphene:25", years=0.5)
    for name in ("lh_iu_l", "testosterone_ng_dl", "estradiol_pg_ml"):
        assert float(clo[name][-1]) > 1.2 * float(base[name][-1]), name


def test_estrogen_therapy_suppresses_postmenopausal_gonadotropins():
    post = {"sex": "female", "age": 58, "menopause": "post", "years_since_menopause": 7}
    ds = run(post, "estradiol:1", years=0.5)
    assert float(ds["fsh_iu_l"][-1]) < 0.7 * float(ds["fsh_iu_l"][0])


def test_surgical_menopause_drops_estradiol_and_raises_fsh():
    ds = run(
        {"sex": "female", "age": 40, "surgical_menopause": True, "years_since_menopause": 1},
        years=0.2,
    )
    assert float(ds["estradiol_pg_ml"][0]) < 10.0
    assert float(ds["fsh_iu_l"][0]) > 40.0


def test_no_uterus_means_no_endometrium_and_men_have_no_vagina_outputs():
    ds = run({"sex": "female", "age": 60, "uterus": False}, years=0.1)
    assert np.all(np.isnan(ds["endometrial_thickness_mm"].values))
    assert ds["endometrial_thickness_mm"].attrs["not_applicable"] == "no uterus"
    men = run({"sex": "male", "age": 50}, years=0.1)
    assert "not_applicable" in men["vaginal_ph"].attrs
    assert np.all(np.isfinite(men["testosterone_ng_dl"].values))


def test_tissue_selectivity_emerges_in_biomarkers():
    post = {"sex": "female", "age": 58, "menopause": "post", "years_since_menopause": 7}
    none, tam, ral = run(post, years=2), run(post, "tamoxifen", 2), run(post, "raloxifene", 2)
    end = {
        k: {n: float(d[n][-1]) for n in d.data_vars if d[n].dims == ("time",)}
        for k, d in (("none", none), ("tam", tam), ("ral", ral))
    }
    # Both build bone against placebo; tamoxifen thickens the endometrium, raloxifene does not.
    assert end["tam"]["bmd_lumbar_spine_g_cm2"] > end["none"]["bmd_lumbar_spine_g_cm2"]
    assert end["ral"]["bmd_lumbar_spine_g_cm2"] > end["none"]["bmd_lumbar_spine_g_cm2"]
    assert end["tam"]["endometrial_thickness_mm"] > end["none"]["endometrial_thickness_mm"] + 1.0
    assert (
        abs(end["ral"]["endometrial_thickness_mm"] - end["none"]["endometrial_thickness_mm"]) < 0.5
    )
    # Both restrain breast proliferation and raise the prothrombotic index.
    for k in ("tam", "ral"):
        assert end[k]["breast_ki67_pct"] < end["none"]["breast_ki67_pct"]
        assert end[k]["prothrombotic_index"] > end["none"]["prothrombotic_index"]


def test_measured_labs_set_the_baseline():
    man = run(
        {
            "sex": "male",
            "age": 29,
            "testosterone_ng_dl": 192,
            "lh_iu_l": 1.6,
            "fsh_iu_l": 1.9,
            "estradiol_pg_ml": 26,
        },
        years=0.1,
    )
    for name, value in [
        ("testosterone_ng_dl", 192),
        ("lh_iu_l", 1.6),
        ("fsh_iu_l", 1.9),
        ("estradiol_pg_ml", 26),
    ]:
        assert float(man[name][0]) == pytest.approx(value, rel=0.02), name
    woman = run(
        {
            "sex": "female",
            "age": 62,
            "menopause": "post",
            "years_since_menopause": 10,
            "estradiol_pg_ml": 12,
            "fsh_iu_l": 70,
            "lh_iu_l": 20,
        },
        years=0.1,
    )
    for name, value in [("estradiol_pg_ml", 12), ("fsh_iu_l", 70), ("lh_iu_l", 20)]:
        assert float(woman[name][0]) == pytest.approx(value, rel=0.05), name


def test_a_batch_equals_each_person_alone():
    """One compiled computation for several people (their arguments stack): each person's
    trajectory in the batch is the one they have alone."""
    people = [
        {"sex": "female", "age": 56, "menopause": "post", "years_since_menopause": 3},
        {"sex": "female", "age": 70, "menopause": "post", "years_since_menopause": 20},
        {"sex": "male", "age": 45},
    ]
    regimen = parse_regimen("raloxifene:60", ENGINE.agents)
    days = np.arange(0.0, 183.0, 1.0)
    (batch,) = simulate_batch(
        [patient_from_mapping(p) for p in people],
        [(regimen, None)],
        0.5,
        days,
        ("bmd_lumbar_spine_g_cm2", "lh_iu_l"),
        engine=ENGINE,
    )
    for i, p in enumerate(people):
        alone = run(p, "raloxifene:60", 0.5)
        for name, values in batch.items():
            # The batch saves every 15 days and interpolates; compare on its saved days.
            on_saves = np.arange(0, 183, 15)
            np.testing.assert_allclose(
                values[i][on_saves], alone[name].values[on_saves], rtol=1e-9, err_msg=name
            )


def test_progestogen_opposes_estrogenic_endometrial_growth():
    post = {"sex": "female", "age": 58, "menopause": "post", "years_since_menopause": 7}
    ce = run(post, "conjugated_estrogens:0.625", years=1)
    hrt = run(post, "conjugated_estrogens:0.625+medroxyprogesterone_acetate:2.5", years=1)
    none = run(post, years=1)
    assert (
        float(ce["endometrial_thickness_mm"][-1]) > float(none["endometrial_thickness_mm"][-1]) + 4
    )
    assert (
        float(hrt["endometrial_thickness_mm"][-1]) < float(ce["endometrial_thickness_mm"][-1]) - 3
    )
    assert float(hrt["endometrial_stimulation_mm"][-1]) < 0.3 * float(
        ce["endometrial_stimulation_mm"][-1]
    )
    # A cycling woman's own luteal progesterone opposes most of her estrogenic drive.
    pre = run({"sex": "female", "age": 35, "menopause": "pre"}, years=0.1)
    growth = float(pre["endometrial_thickness_mm"][-1]) - 2.3
    assert float(pre["endometrial_stimulation_mm"][-1]) < 0.5 * growth


def test_day_zero_is_the_untreated_baseline():
    post = {"sex": "female", "age": 60, "menopause": "post", "years_since_menopause": 9}
    none, e2 = run(post, years=0.2), run(post, "estradiol:1", years=0.2)
    for name in ("estradiol_pg_ml", "hot_flushes_per_day", "fsh_iu_l"):
        # equal within the solver's tolerance (rtol 1e-6; measured up to 4e-7): day 0 is read
        # from the dense output of the steps either side of the drug's start
        assert float(e2[name][0]) == pytest.approx(float(none[name][0]), rel=1e-5), name
    assert float(e2["estradiol_pg_ml"][-1]) > 3 * float(e2["estradiol_pg_ml"][0])


@pytest.mark.parametrize(
    ("person", "labs"),
    [
        ({"sex": "female", "age": 35, "menopause": "pre"}, {"estradiol_pg_ml": 150}),
        ({"sex": "female", "age": 35, "menopause": "pre"}, {"fsh_iu_l": 10}),
        (
            {"sex": "female", "age": 52, "menopause": "post", "years_since_menopause": 0.5},
            {"estradiol_pg_ml": 20},
        ),
        ({"sex": "male", "age": 50}, {"testosterone_ng_dl": 50}),
        ({"sex": "male", "age": 50}, {"estradiol_pg_ml": 40}),
        ({"sex": "male", "age": 50}, {"fsh_iu_l": 30}),
    ],
)
def test_any_subset_of_labs_is_the_baseline_steady_state(person, labs):
    ds = run({**person, **labs}, years=0.1)
    for name, value in labs.items():
        assert float(ds[name][0]) == pytest.approx(value, rel=0.03), name
        if person.get("menopause") != "post":  # a steady state (she is still in transition)
            assert float(ds[name][-1]) == pytest.approx(value, rel=0.03), name


def test_dose_times_between_quarter_hours_are_accepted():
    ds = run({"sex": "female", "age": 60}, "raloxifene:60@12.1", years=0.1)
    assert np.all(np.isfinite(ds["bmd_lumbar_spine_g_cm2"].values))


def test_a_batch_split_over_cores_equals_a_small_batch(monkeypatch):
    """More people than one block: the batch runs as one group of blocks per core (here two,
    whatever the machine); each person's trajectory is the one they have in a small batch."""
    from sermsim.physiology import integrate

    monkeypatch.setattr(integrate, "cores", lambda: 2)
    people = [
        patient_from_mapping(
            {"sex": "female", "age": 52 + 0.2 * i, "menopause": "post", "years_since_menopause": 2}
        )
        for i in range(integrate.BLOCK + 10)
    ]
    regimen = parse_regimen("raloxifene:60", ENGINE.agents)
    days = np.arange(0.0, 92.0, 15.0)
    outputs = ("bmd_lumbar_spine_g_cm2", "lh_iu_l")
    (big,) = simulate_batch(people, [(regimen, None)], 0.25, days, outputs, engine=ENGINE)
    picks = [0, integrate.BLOCK - 1, integrate.BLOCK + 9]
    (small,) = simulate_batch(
        [people[i] for i in picks], [(regimen, None)], 0.25, days, outputs, engine=ENGINE
    )
    for name in outputs:
        np.testing.assert_allclose(big[name][picks], small[name], rtol=1e-9, err_msg=name)


def test_a_new_horizon_is_not_a_new_program_and_changes_no_day():
    """Horizons in one bucket share the compiled engine (a web client cannot make the server
    compile per request), and a shorter run is the longer run's first days, to the bit."""
    from sermsim.physiology import integrate

    person = patient_from_mapping({"sex": "female", "age": 47, "menopause": "pre"})
    regimen = parse_regimen("tamoxifen:20+estradiol:1", ENGINE.agents)
    regimen = tuple(d.model_copy(update={"adherence": 0.8}) for d in regimen)  # random doses
    long = simulate(person, regimen, 1.9, engine=ENGINE, seed=3)
    compiled = integrate.treat_batch._cache_size()
    short = simulate(person, regimen, 1.0 + 1 / 365.25, engine=ENGINE, seed=3)
    assert integrate.treat_batch._cache_size() == compiled
    assert short.sizes["time"] == 368 and long.sizes["time"] == 695
    for name in ("bmd_lumbar_spine_g_cm2", "estradiol_pg_ml", "lh_iu_l", "signal", "unbound_nM"):
        np.testing.assert_array_equal(short[name].values, long[name].values[:368], err_msg=name)
