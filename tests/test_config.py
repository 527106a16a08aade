import pytest

from descgen import config
from descgen.config import ConfigError


@pytest.mark.parametrize("profile", config.available_profiles())
def test_every_profile_validates(profile):
    cfg = config.load(profile)
    assert cfg.profile == profile
    assert cfg.train.save_steps % cfg.train.eval_steps == 0


def test_default_profile_targets_phi4_mini_fused_modules():
    cfg = config.load()
    assert cfg.model.name == "microsoft/Phi-4-mini-instruct"
    assert cfg.lora.target_modules == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
    assert cfg.model_path == "microsoft/Phi-4-mini-instruct"  # a hub id, not a local folder


def test_unknown_override_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown key 'lora.rr'"):
        config.load(overrides=["lora.rr=8"])


def test_unknown_section_in_override_is_named():
    with pytest.raises(ConfigError, match="no section 'lorra'"):
        config.load(overrides=["lorra.r=8"])


def test_unknown_key_in_params_file_is_named(tmp_path):
    text = config.PARAMS_FILE.read_text().replace("  r: 16 ", "  rr: 16 ", 1)
    params = tmp_path / "params.yaml"
    params.write_text(text)
    with pytest.raises(ConfigError, match=r"unknown key 'lora.rr'"):
        config.load(params_file=params)


def test_unknown_key_in_profile_is_named(tmp_path):
    text = config.PARAMS_FILE.read_text().replace("smoke:\n    data: {", "smoke:\n    data: {colour: red, ", 1)
    params = tmp_path / "params.yaml"
    params.write_text(text)
    with pytest.raises(ConfigError, match=r"unknown key 'data.colour' in profiles.smoke"):
        config.load("smoke", params_file=params)


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"train.micro_batch_size must be an integer, got 'eight'"):
        config.load(overrides=["train.micro_batch_size=eight"])


def test_bad_choice_is_named():
    with pytest.raises(ConfigError, match=r"model.quantization must be one of \['none', '4bit'\]"):
        config.load(overrides=["model.quantization=8bit"])


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown profile 'gpu'.*smoke"):
        config.load("gpu")


def test_overrides_parse_yaml_values():
    cfg = config.load(overrides=["train.learning_rate=1e-4", "lora.target_modules=[qkv_proj, o_proj]",
                                 "data.test_path=null", "eval.do_sample=true"])
    assert cfg.train.learning_rate == pytest.approx(1e-4)
    assert cfg.lora.target_modules == ["qkv_proj", "o_proj"]
    assert cfg.data.test_path is None
    assert cfg.eval.do_sample is True


def test_save_steps_must_follow_an_evaluation():
    with pytest.raises(ConfigError, match="train.save_steps .* multiple of train.eval_steps"):
        config.load(overrides=["train.eval_steps=30", "train.save_steps=100"])


def test_missing_data_file_message_says_where_to_get_it(tmp_path):
    cfg = config.load(overrides=[f"data.path={tmp_path / 'trn.json'}"])
    message = config.missing_data_message(cfg)
    assert "not found" in message and "LF-AmazonTitles-1.3MM" in message and "--profile smoke" in message


def test_paths_resolve_from_repo_root_not_cwd(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    cfg = config.load("smoke")
    assert cfg.resolve(cfg.data.path) == config.REPO_ROOT / "dataset" / "sample" / "trn.json"
    assert cfg.outputs_dir == config.REPO_ROOT / "outputs"


def test_section_hash_changes_only_with_its_sections():
    base = config.load()
    changed = config.load(overrides=["train.learning_rate=1e-4"])
    assert base.section_hash("data") == changed.section_hash("data")
    assert base.section_hash("train") != changed.section_hash("train")

