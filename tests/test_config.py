import pytest
import yaml

from cgpgan.config import (
    ConfigError,
    describe_config,
    load_config,
    load_saved_config,
    preset_names,
    settings_class,
)


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
    # a word YAML reads as a boolean, given to a string option, is refused with the reason
    with pytest.raises(ConfigError, match="train.compile: expected a string, got False.*quote"):
        load_config(None, ["train.compile=off"])


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
        ("train.generator_every=0", "train.generator_every"),
        ("method.penalty_every=0", "method.penalty_every"),
        ("method.classifier_penalty_every=0", "method.classifier_penalty_every"),
        ("train.steps=1.5", "train.steps"),
        ("train.batch_size=abc", "train.batch_size"),
        ("train.betas=[0.5]", "train.betas"),
        ("method.fixed_prior=[0.5, 0.5]", "method.fixed_prior"),  # not a CGPGAN key
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


# ---------------------------------------------------------------- per-method settings


@pytest.mark.parametrize(
    "overrides",
    [
        ["method.name=vcagan", "method.classifier_trunk=own"],
        ["method.classifier_trunk=own", "method.name=vcagan"],  # the order does not matter
    ],
)
def test_a_key_the_chosen_method_lacks_is_an_error_naming_key_and_method(overrides):
    with pytest.raises(ConfigError) as error:
        load_config(None, overrides)
    message = str(error.value)
    assert message.startswith("method.classifier_trunk: unknown key for method vcagan")
    assert "\n" not in message


def test_each_method_gets_its_own_settings_class_with_shared_keys_in_common():
    keys = {}
    for name in ("cgpgan", "vcagan", "infogan", "vanilla"):
        method = load_config(None, [f"method.name={name}"]).method
        assert type(method) is settings_class(name) and method.name == name
        keys[name] = set(method.__dataclass_fields__)
    shared = keys["cgpgan"] & keys["vcagan"] & keys["infogan"] & keys["vanilla"]
    assert {"num_categories", "adversarial_loss", "fake_penalty_weight"} <= shared
    assert "classifier_trunk" in keys["cgpgan"] - keys["vcagan"]
    assert "fixed_prior" in keys["infogan"] - keys["cgpgan"]
    assert "warmup_steps" not in keys["infogan"] | keys["vanilla"]


def test_choosing_another_method_keeps_shared_values_and_drops_inherited_others(tmp_path):
    switched = load_config("mnist5k", ["method.name=vcagan"])  # mnist5k is a CGPGAN recipe
    assert type(switched.method) is settings_class("vcagan")
    assert (switched.method.num_categories, switched.method.lambda_cgp) == (10, 1.0)
    child = tmp_path / "child.yaml"  # a file extending a preset of another method
    child.write_text("extends: mnist5k\nmethod:\n  name: infogan\n  lambda_cls: 2.0\n")
    config = load_config(child)
    assert (config.method.name, config.method.lambda_cls) == ("infogan", 2.0)
    assert config.method.num_categories == 10 and config.train.batch_size == 64
    child.write_text("extends: mnist5k\nmethod:\n  name: infogan\n  lambda_cgp: 2.0\n")
    with pytest.raises(ConfigError, match="method.lambda_cgp: unknown key for method infogan"):
        load_config(child)


def test_a_config_saved_with_every_method_key_still_loads(tmp_path):
    """Runs saved before methods had settings of their own kept all twenty method keys."""
    old = load_config("gaussians2d_vanilla").to_dict()
    old["method"].update(lambda_cgp=0.1, warmup_steps=1000, classifier_trunk="own")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(old))
    with pytest.raises(ConfigError, match="for method vanilla"):
        load_config(path)
    config = load_saved_config(path, ["train.steps=7"])
    assert config.to_dict()["method"] == load_config("gaussians2d_vanilla").to_dict()["method"]
    assert config.train.steps == 7


def test_describe_config_lists_the_chosen_methods_keys_each_with_its_meaning():
    described = describe_config(load_config("gaussians2d_infogan")).splitlines()
    method_lines = [line for line in described if line.startswith("method.")]
    keys = [line.split(" = ")[0] for line in method_lines]
    assert keys == [f"method.{key}" for key in settings_class("infogan").__dataclass_fields__]
    assert "method.lambda_cls" in keys and "method.warmup_steps" not in keys
    assert all("  # " in line for line in method_lines)  # inherited keys keep their meaning
