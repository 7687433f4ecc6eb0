"""Every number in a shipped data file carries a value, unit, source and checked flag."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sermsim.core.params import Param, data_files, find_unsourced, load_yaml, parameters_sha256

FILES = data_files()


def test_there_are_data_files():
    names = {p.name for p in FILES}
    assert {"tamoxifen.yaml", "tissues.yaml", "exposure.yaml", "receptor.yaml"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_number_without_a_source(path):
    unsourced = list(find_unsourced(load_yaml(path)))
    assert unsourced == [], f"{path.name}: numbers without value/unit/source/verified: {unsourced}"


def test_find_unsourced_catches_a_bare_number_and_an_incomplete_record():
    doc = {
        "a": 1.5,
        "b": {"value": 2, "unit": "h"},
        "c": [{"value": 3, "unit": "h", "source": "x", "verified": True}],
    }
    found = list(find_unsourced(doc))
    assert len(found) == 2
    assert found[0] == ".a"
    assert found[1].startswith(".b")


def test_a_calibrated_parameter_must_say_to_what():
    with pytest.raises(ValidationError, match="calibrated_to"):
        Param(value=1.0, unit="x", source="calibrated", verified=False)
    Param(value=1.0, unit="x", source="calibrated", verified=False, calibrated_to="targets")


def test_parameters_digest_follows_the_data(tmp_path):
    import shutil

    from sermsim.core.params import data_dir

    copy = tmp_path / "data"
    shutil.copytree(data_dir(), copy)
    assert parameters_sha256(copy) == parameters_sha256()
    path = copy / "receptor.yaml"
    path.write_text(path.read_text().replace("value: 0.1,", "value: 0.11,"))
    assert parameters_sha256(copy) != parameters_sha256()


def test_a_sourced_record_covers_its_description_but_not_nested_parameters():
    # A target's numbers and the plain records describing it (its trial's typical patient)
    # come from its source; a parameter nested inside it must still be complete.
    described = {"t": {"low": 0.1, "source": "x", "verified": True, "patient": {"age": 55}}}
    assert list(find_unsourced(described)) == []
    nested = {"t": {"source": "x", "verified": True, "k": {"value": 3.0, "unit": "h"}}}
    assert [w.split(" ")[0] for w in find_unsourced(nested)] == [".t.k"]
