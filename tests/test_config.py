import pytest

from cgpgan.config import ConfigError, load_config, preset_names


def test_every_preset_loads_and_validates():
    names = preset_names()
    assert "gaussians2d" in names
    for name in names:
        load_config(name)


def test_overrides_are_typed():
    config = load_config(
        "gaussians2d", ["method.num_categories=6", "method.lambda_cgp=1", "train.betas=[0.5, 0.9]"]
    )
    assert config.method.num_categories == 6
    assert isinstance(config.method.lambda_cgp, float) and config.method.lambda_cgp == 1.0
    assert config.train.betas == [0.5, 0.9]


@pytest.mark.parametrize(
    "override, key",
    [
        ("method.num_categories=1", "method.num_categories"),
        ("method.lambda_cgp=-1", "method.lambda_cgp"),
        ("method.fake_penalty_weight=-0.5", "method.fake_penalty_weight"),
        ("data.probabilities=[0.5, 0.2, 0.2, 0.2]", "data.probabilities"),
        ("data.probabilities=[0.5, 0.5]", "data.probabilities"),
        ("data.std=0", "data.std"),
        ("method.prior_decay=1.0", "method.prior_decay"),
        ("method.name=wgan", "method.name"),
        ("method.nmu_categories=3", "method.nmu_categories"),
        ("train.steps=0", "train.steps"),
        ("train.steps=1.5", "train.steps"),
        ("train.batch_size=abc", "train.batch_size"),
        ("train.betas=[0.5]", "train.betas"),
        ("method.fixed_prior=[0.5, 0.5]", "method.fixed_prior"),
        ("network.conditioning=film", "network.conditioning"),
        ("optimizer.lr=1", "optimizer"),
        ("method=3", "method"),
        ("seed=-1", "seed"),
    ],
)
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError) as error:
        load_config("gaussians2d", [override])
    message = str(error.value)
    assert message.startswith(key) and "\n" not in message


def test_unknown_key_in_a_yaml_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("method:\n  name: cgpgan\n  lamda_cgp: 1.0\n")
    with pytest.raises(ConfigError, match="method.lamda_cgp: unknown key"):
        load_config(path)


def test_missing_or_invalid_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="unknown config"):
        load_config("no-such-preset")
    bad = tmp_path / "broken.yaml"
    bad.write_text("method: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("seed: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(path)


def test_extends_lays_a_file_over_a_preset_and_refuses_cycles(tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text("extends: gaussians2d\nmethod:\n  lambda_cgp: 5.0\n")
    config = load_config(child)
    assert config.method.lambda_cgp == 5.0
    assert config.train.batch_size == load_config("gaussians2d").train.batch_size
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(f"extends: {second}\n")
    second.write_text(f"extends: {first}\n")
    with pytest.raises(ConfigError, match="extends"):
        load_config(first)
