"""Settings layering: defaults < profile < config file < environment < flags, with sources."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from core import (
    PROFILES,
    ConfigError,
    Settings,
    describe_settings,
    load_settings,
    resolve_models,
)
from core.task import TaskModels


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- defaults and profiles ------------------------------------------------------------------------


def test_no_layers_gives_defaults_with_default_source() -> None:
    loaded = load_settings()
    assert loaded.settings == Settings()
    assert loaded.settings.models.target == "embedded"
    assert loaded.sources["tune.variations"] == "default"
    assert loaded.sources["models.target"] == "default"
    assert loaded.config_file is None


@pytest.mark.parametrize(
    ("name", "variations", "refine_top", "max_examples"),
    [("quick", 2, 1, 12), ("thorough", 8, 3, None)],
)
def test_builtin_profiles_set_tune_values(
    name: str, variations: int, refine_top: int, max_examples: int | None
) -> None:
    loaded = load_settings(profile=name)
    tune = loaded.settings.tune
    assert (tune.variations, tune.refine_top, tune.max_examples) == (
        variations, refine_top, max_examples)
    assert loaded.settings.profile == name
    assert loaded.sources["tune.variations"] == f"profile {name}"
    assert loaded.sources["tune.max_examples"] == f"profile {name}"


def test_default_profile_is_the_built_in_defaults() -> None:
    assert PROFILES["default"] == {}
    loaded = load_settings(profile="default")
    assert loaded.settings == Settings()
    assert loaded.sources["tune.variations"] == "default"


def test_profile_leaves_keys_it_does_not_mention_at_their_default() -> None:
    loaded = load_settings(profile="quick")
    assert loaded.settings.tune.concurrency == 4
    assert loaded.sources["tune.concurrency"] == "default"


def test_unknown_profile_is_a_config_error_listing_the_choices() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(profile="nosuch")
    text = str(info.value)
    assert "nosuch" in text
    for choice in ("quick", "default", "thorough"):
        assert choice in text


def test_user_profile_from_config_file_is_selectable_and_listed() -> None:
    cfg = write_config(Path("prompt-tuner.yaml"),
                       "profiles:\n  mine:\n    tune:\n      variations: 5\n      seed: 11\n")
    loaded = load_settings(profile="mine")
    assert loaded.settings.tune.variations == 5
    assert loaded.settings.tune.seed == 11
    assert loaded.sources["tune.variations"] == "profile mine"
    assert loaded.config_file == Path.cwd() / cfg.name
    with pytest.raises(ConfigError, match="mine"):
        load_settings(profile="nosuch")


def test_config_file_can_choose_the_profile() -> None:
    write_config(Path("prompt-tuner.yaml"), "profile: thorough\n")
    loaded = load_settings()
    assert loaded.settings.profile == "thorough"
    assert loaded.settings.tune.variations == 8
    assert loaded.sources["tune.variations"] == "profile thorough"


def test_environment_can_choose_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPT_TUNER_PROFILE", "quick")
    loaded = load_settings()
    assert loaded.settings.profile == "quick"
    assert loaded.settings.tune.variations == 2


def test_profile_argument_beats_profile_named_in_config_file() -> None:
    write_config(Path("prompt-tuner.yaml"), "profile: thorough\n")
    assert load_settings(profile="quick").settings.tune.variations == 2


# -- config file ----------------------------------------------------------------------------------


def test_config_file_in_cwd_beats_profile_and_is_named_as_source() -> None:
    cfg = write_config(Path("prompt-tuner.yaml"), "tune:\n  variations: 3\n")
    loaded = load_settings(profile="quick")
    assert loaded.settings.tune.variations == 3
    assert loaded.sources["tune.variations"].startswith("config file ")
    assert str(cfg.name) in loaded.sources["tune.variations"]
    # keys the file does not set keep the profile's value and source
    assert loaded.settings.tune.refine_top == 1
    assert loaded.sources["tune.refine_top"] == "profile quick"


def test_explicit_config_file_is_used_instead_of_the_one_in_cwd(tmp_path: Path) -> None:
    write_config(Path("prompt-tuner.yaml"), "tune:\n  variations: 3\n")
    other = tmp_path / "elsewhere"
    other.mkdir()
    explicit = write_config(other / "custom.yaml", "tune:\n  variations: 6\n")
    loaded = load_settings(config_file=explicit)
    assert loaded.settings.tune.variations == 6
    assert loaded.config_file == explicit
    assert loaded.sources["tune.variations"] == f"config file {explicit}"


def test_json_config_file_is_read(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "settings.json", '{"tune": {"variations": 12}}')
    assert load_settings(config_file=cfg).settings.tune.variations == 12


def test_missing_explicit_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(config_file=tmp_path / "absent.yaml")


def test_unknown_key_in_config_file_names_the_key_and_file() -> None:
    write_config(Path("prompt-tuner.yaml"), "tune:\n  variationz: 3\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    assert "tune.variationz" in text
    assert "prompt-tuner.yaml" in text


def test_invalid_value_in_config_file_names_field_and_source() -> None:
    write_config(Path("prompt-tuner.yaml"), "tune:\n  variations: 0\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    assert "tune.variations" in text
    assert "config file" in text
    assert "prompt-tuner.yaml" in text


def test_bad_yaml_config_names_file_and_line() -> None:
    write_config(Path("prompt-tuner.yaml"), "tune:\n  variations: 2\n  seed: [1\nfoo: 2\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    assert "prompt-tuner.yaml" in text
    assert "line 4" in text


def test_config_file_that_is_not_a_mapping_is_rejected() -> None:
    write_config(Path("prompt-tuner.yaml"), "- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings()


@pytest.mark.parametrize(("text", "key"), [
    ("run_dir: {a: 1}\n", "run_dir"),
    ("limits: {rpm: {a: 1}}\n", "limits.rpm"),
    ("embedded: {n_threads: {a: {b: 1}}}\n", "embedded.n_threads"),
    ("cache: {path: [1, 2]}\n", "cache.path"),
    ("tune: {rungs: [8, {a: 1}]}\n", "tune.rungs.1"),
])
def test_a_mapping_or_list_where_one_value_goes_is_one_config_error_naming_the_key(
    text: str, key: str,
) -> None:
    write_config(Path("prompt-tuner.yaml"), text)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert f"setting '{key}' takes a single value" in message and "prompt-tuner.yaml" in message
    assert "\n" not in message


@pytest.mark.parametrize(("text", "key"), [("limits: 5\n", "limits"), ("tune: [1]\n", "tune")])
def test_one_value_where_a_section_goes_is_one_config_error_naming_the_key(text: str, key: str) -> None:
    write_config(Path("prompt-tuner.yaml"), text)
    with pytest.raises(ConfigError, match=f"setting '{key}': Input should be a valid dictionary"):
        load_settings()


def test_a_later_layer_sets_a_section_whole_over_a_single_value() -> None:
    write_config(Path("prompt-tuner.yaml"), "limits: {rpm: 30}\n")
    loaded = load_settings(flags={"limits.burst": 3})
    assert (loaded.settings.limits.rpm, loaded.settings.limits.burst) == (30, 3)
    assert loaded.sources["limits.rpm"].startswith("config file")


@pytest.mark.parametrize(("text", "kind"), [("profile: [1]\n", "list"), ("profile: {a: 1}\n", "mapping")])
def test_a_profile_that_is_not_a_name_is_a_config_error(text: str, kind: str) -> None:
    write_config(Path("prompt-tuner.yaml"), text)
    with pytest.raises(ConfigError, match=f"'profile' must be the name of a profile, not a {kind}"):
        load_settings()


def test_a_user_profile_that_is_not_a_mapping_is_a_config_error() -> None:
    write_config(Path("prompt-tuner.yaml"), "profile: mine\nprofiles: {mine: [1]}\n")
    with pytest.raises(ConfigError, match="profile 'mine' must be a mapping of settings"):
        load_settings()


def test_a_negative_seed_is_refused_from_the_config_file_and_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_config(Path("prompt-tuner.yaml"), "tune: {seed: -1}\n")
    with pytest.raises(ConfigError, match=r"setting 'tune\.seed'.*greater than or equal to 0.*config file"):
        load_settings()
    Path("prompt-tuner.yaml").unlink()
    monkeypatch.setenv("PROMPT_TUNER_TUNE__SEED", "-3")
    with pytest.raises(ConfigError, match=r"setting 'tune\.seed'.*environment"):
        load_settings()
    with pytest.raises(ConfigError, match=r"setting 'tune\.seed'.*flag"):
        load_settings(flags={"tune.seed": -1})


@pytest.mark.parametrize("text", ["budget: {bogus: null}\n", "limits: {bogus: 1}\n",
                                  "model_limits: {'openai:m': {rpmm: 5}}\n"])
def test_unknown_budget_and_limit_keys_are_refused(text: str) -> None:
    write_config(Path("prompt-tuner.yaml"), text)
    with pytest.raises(ConfigError,
                       match=r"unknown setting '(budget\.bogus|limits\.bogus|model_limits\.openai:m\.rpmm)'"):
        load_settings()


# -- environment and flags ------------------------------------------------------------------------


def test_environment_beats_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(Path("prompt-tuner.yaml"), "tune:\n  variations: 3\n")
    monkeypatch.setenv("PROMPT_TUNER_TUNE__VARIATIONS", "7")
    loaded = load_settings()
    assert loaded.settings.tune.variations == 7
    assert loaded.sources["tune.variations"] == "environment"


def test_flag_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPT_TUNER_TUNE__VARIATIONS", "7")
    loaded = load_settings(flags={"tune.variations": 9})
    assert loaded.settings.tune.variations == 9
    assert loaded.sources["tune.variations"] == "flag"


def test_flags_with_none_value_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPT_TUNER_TUNE__VARIATIONS", "7")
    loaded = load_settings(flags={"tune.variations": None})
    assert loaded.settings.tune.variations == 7
    assert loaded.sources["tune.variations"] == "environment"


def test_all_layers_each_win_their_own_key(monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(Path("prompt-tuner.yaml"),
                 "tune:\n  refine_top: 0\n  seed: 5\n  concurrency: 8\n")
    monkeypatch.setenv("PROMPT_TUNER_TUNE__SEED", "6")
    monkeypatch.setenv("PROMPT_TUNER_TUNE__CONCURRENCY", "16")
    loaded = load_settings(profile="quick", flags={"tune.concurrency": 32})
    tune, src = loaded.settings.tune, loaded.sources
    assert (tune.variations, src["tune.variations"]) == (2, "profile quick")
    assert (tune.refine_top, src["tune.refine_top"]) == (0, f"config file {loaded.config_file}")
    assert (tune.seed, src["tune.seed"]) == (6, "environment")
    assert (tune.concurrency, src["tune.concurrency"]) == (32, "flag")
    default_temperature = Settings().tune.optimizer_temperature
    assert (tune.optimizer_temperature, src["tune.optimizer_temperature"]) == (
        default_temperature, "default")


def test_invalid_environment_value_names_field_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROMPT_TUNER_TUNE__VARIATIONS", "0")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "tune.variations" in str(info.value)
    assert "environment" in str(info.value)


def test_invalid_flag_value_names_field_and_flag() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(flags={"tune.variations": 0})
    assert "tune.variations" in str(info.value)
    assert "flag" in str(info.value)


def test_unknown_flag_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"tune\.nosuch"):
        load_settings(flags={"tune.nosuch": 1})


def test_nested_environment_string_value_for_a_path_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMPT_TUNER_STORE_PATH", str(tmp_path / "s.db"))
    loaded = load_settings()
    assert loaded.settings.store_file() == tmp_path / "s.db"
    assert loaded.sources["store_path"] == "environment"


# -- secrets --------------------------------------------------------------------------------------


def test_api_key_is_loaded_as_secret_and_masked_everywhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "sk-test-very-secret-value-123"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    loaded = load_settings()
    key = loaded.secrets.openai_api_key
    assert isinstance(key, SecretStr)
    assert key.get_secret_value() == secret
    assert secret not in repr(loaded.secrets)
    rows = describe_settings(loaded)
    for row in rows:
        assert all(secret not in cell for cell in row), row
    by_key = {k: (v, s) for k, v, s in rows}
    value, source = by_key["secrets.OPENAI_API_KEY"]
    assert value != "(not set)"
    assert "*" in value
    assert source == "environment"
    assert by_key["secrets.ANTHROPIC_API_KEY"][0] == "(not set)"


def test_secrets_are_not_read_from_config_file() -> None:
    write_config(Path("prompt-tuner.yaml"), "openai_api_key: sk-in-a-file\n")
    with pytest.raises(ConfigError, match="openai_api_key"):
        load_settings()


def test_describe_settings_lists_every_setting_once_with_its_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROMPT_TUNER_TUNE__VARIATIONS", "7")
    rows = describe_settings(load_settings(flags={"tune.seed": 3}))
    keys = [k for k, _, _ in rows]
    assert len(keys) == len(set(keys))
    by_key = {k: (v, s) for k, v, s in rows}
    assert by_key["tune.variations"] == ("7", "environment")
    assert by_key["tune.seed"] == ("3", "flag")
    assert by_key["models.target"] == ('"embedded"', "default")


# -- model roles: task file vs other layers -------------------------------------------------------


def test_task_models_beat_config_file_and_profile() -> None:
    write_config(Path("prompt-tuner.yaml"),
                 "models:\n  target: ollama:from-file\n  judge: ollama:judge-file\n")
    loaded = load_settings()
    settings = resolve_models(loaded, TaskModels(target="openai:from-task@http://127.0.0.1:1/v1"))
    assert settings.models.target == "openai:from-task@http://127.0.0.1:1/v1"
    # roles the task does not name keep the lower layers' value
    assert settings.models.judge == "ollama:judge-file"
    assert settings.models.optimizer == "embedded"
    # the loaded settings are not mutated
    assert loaded.settings.models.target == "ollama:from-file"


def test_environment_beats_task_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMPT_TUNER_MODELS__TARGET", "ollama:from-env")
    settings = resolve_models(load_settings(),
                              TaskModels(target="ollama:from-task", optimizer="ollama:opt-task"))
    assert settings.models.target == "ollama:from-env"
    assert settings.models.optimizer == "ollama:opt-task"


def test_flag_beats_task_models() -> None:
    loaded = load_settings(flags={"models.optimizer": "ollama:from-flag"})
    settings = resolve_models(loaded, TaskModels(optimizer="ollama:from-task"))
    assert settings.models.optimizer == "ollama:from-flag"


def test_task_without_models_leaves_settings_unchanged() -> None:
    loaded = load_settings(flags={"models.target": "ollama:x"})
    assert resolve_models(loaded, TaskModels()) == loaded.settings
