"""Score configs: a programmer's mistake raises at construction, and files in Langfuse's shape or ours load."""

from __future__ import annotations

import json

import pytest

from otel_scoring import DataType, ScoreConfig, ScoreConfigRegistry


def test_a_config_normalises_its_type_and_categories():
    """The data type may be given as its name; category values become floats."""
    config = ScoreConfig(id="tone", name="tone", data_type="CATEGORICAL", categories={"polite": 1, "rude": 0})
    assert config.data_type is DataType.CATEGORICAL
    assert config.categories == {"polite": 1.0, "rude": 0.0}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"id": "", "name": "x", "data_type": "NUMERIC"}, "id must be a non-empty string"),
        ({"id": "c", "name": "", "data_type": "NUMERIC"}, "name must be a non-empty string"),
        ({"id": "c", "name": "x", "data_type": "NUMBER"}, "is not a valid DataType"),
        ({"id": "c", "name": "x", "data_type": "NUMERIC", "min_value": True}, "must be numbers"),
        ({"id": "c", "name": "x", "data_type": "NUMERIC", "max_value": float("nan")}, "must be numbers"),
        ({"id": "c", "name": "x", "data_type": "NUMERIC", "min_value": 5, "max_value": 1}, "min_value 5 > max_value 1"),
        ({"id": "c", "name": "x", "data_type": "CATEGORICAL"}, "needs categories"),
        ({"id": "c", "name": "x", "data_type": "NUMERIC", "categories": {"a": 1}}, "only a CATEGORICAL config has categories"),
        ({"id": "c", "name": "x", "data_type": "CATEGORICAL", "categories": {"a": "high"}}, "map string labels to numbers"),
    ],
)
def test_a_wrong_config_raises_naming_its_mistake(settings, message):
    """Each broken rule raises ValueError with the config id and what is wrong."""
    with pytest.raises(ValueError, match=message):
        ScoreConfig(**settings)


def test_from_dict_reads_langfuses_shape_and_ours():
    """camelCase keys and a list of {label, value} categories (Langfuse's API) read like our snake_case mapping."""
    langfuse = ScoreConfig.from_dict(
        {"id": 7, "name": "tone", "dataType": "CATEGORICAL", "categories": [{"label": "polite", "value": 1}, {"label": "rude", "value": 0}]}
    )
    ours = ScoreConfig.from_dict({"id": "7", "name": "tone", "data_type": "CATEGORICAL", "categories": {"polite": 1, "rude": 0}})
    assert langfuse == ours and langfuse.id == "7"
    bounded = ScoreConfig.from_dict({"id": "q", "name": "quality", "dataType": "NUMERIC", "minValue": 0, "maxValue": 5, "description": "0-5"})
    assert (bounded.min_value, bounded.max_value, bounded.description) == (0, 5, "0-5")


def test_a_registry_finds_configs_by_id_and_a_later_add_replaces():
    """get() by id; adding a config with a known id replaces the old one."""
    registry = ScoreConfigRegistry([ScoreConfig(id="q", name="quality", data_type="NUMERIC")])
    replacement = registry.add(ScoreConfig(id="q", name="quality", data_type="NUMERIC", max_value=1))
    assert registry.get("q") is replacement and len(registry) == 1
    assert registry.get("missing") is None
    assert [config.id for config in registry] == ["q"]


@pytest.mark.parametrize("wrapped", [False, True])
def test_configs_load_from_a_json_file_as_a_list_or_under_configs(tmp_path, wrapped):
    """A JSON file holds a list of configs, or {"configs": [...]}."""
    configs = [{"id": "q", "name": "quality", "dataType": "NUMERIC", "maxValue": 1}, {"id": "ok", "name": "ok", "dataType": "BOOLEAN"}]
    path = tmp_path / "configs.json"
    path.write_text(json.dumps({"configs": configs} if wrapped else configs), encoding="utf-8")
    registry = ScoreConfigRegistry.from_file(path)
    assert sorted(config.id for config in registry) == ["ok", "q"]
    assert registry.get("ok").data_type is DataType.BOOLEAN


def test_configs_load_from_a_yaml_file(tmp_path):
    """A .yaml file reads like JSON (PyYAML, the yaml extra)."""
    path = tmp_path / "configs.yaml"
    path.write_text("configs:\n  - id: tone\n    name: tone\n    dataType: CATEGORICAL\n    categories: {polite: 1, rude: 0}\n", encoding="utf-8")
    assert ScoreConfigRegistry.from_file(str(path)).get("tone").categories == {"polite": 1.0, "rude": 0.0}


def test_a_file_of_another_shape_is_refused(tmp_path):
    """A file that is neither a list nor {"configs": [...]} raises, naming the file."""
    path = tmp_path / "configs.json"
    path.write_text(json.dumps("quality"), encoding="utf-8")
    with pytest.raises(ValueError, match="expected a list of score configs"):
        ScoreConfigRegistry.from_file(path)
