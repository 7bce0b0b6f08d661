"""The command line's help, `config` and `presets` listings, and its one-line errors."""

import dataclasses
import re

import pytest

from cgpgan.cli import main
from cgpgan.config import Config, field_meanings, preset_names
from cgpgan.training.loop import train

# `section.key = value  # meaning`, as `cgpgan config` prints each key
KEY_LINE = re.compile(r"^(?P<key>[\w.]+) = (?P<value>.*?)(?:\s+# (?P<meaning>.*))?$")


def _listed(text: str) -> dict[str, tuple[str, str]]:
    """{key: (value, meaning)} of `cgpgan config`'s output."""
    rows = {}
    for line in text.splitlines():
        match = KEY_LINE.match(line)
        if match:
            rows[match["key"]] = (match["value"].strip(), match["meaning"] or "")
    return rows


def test_top_level_help_names_every_command(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--help"])
    assert exit.value.code == 0
    usage, description = capsys.readouterr().out.split("\n\n")[:2]
    commands = re.search(r"\{(.*?)\}", usage)[1].split(",")  # argparse's {train,evaluate,...}
    assert set(commands) == {
        *("train", "sweep", "evaluate", "probe", "merge", "sample", "cluster", "report"),
        "config",
        "presets",
    }
    for name in commands:
        assert name in description


def test_every_config_field_has_a_meaning():
    groups = [Config] + [
        type(getattr(Config(), item.name))
        for item in dataclasses.fields(Config)
        if dataclasses.is_dataclass(getattr(Config(), item.name))
    ]
    for group in groups:
        missing = [
            name
            for name, meaning in field_meanings(group).items()
            if not meaning and name not in ("data", "network", "method", "train")
        ]
        assert not missing, f"{group.__name__}: add a `# meaning` comment to {missing}"


def test_config_lists_every_key_with_its_default_and_meaning(capsys):
    assert main(["config"]) == 0
    rows = _listed(capsys.readouterr().out)
    defaults = Config().to_flat_dict()
    assert set(rows) == set(defaults)
    assert rows["method.num_categories"][0] == str(defaults["method.num_categories"])
    assert rows["train.device"] == ("auto", "auto | cpu | cuda | cuda:N")
    assert all(meaning for _, meaning in rows.values())


def test_config_shows_a_preset_with_overrides(capsys):
    assert main(["config", "mnist5k", "--set", "method.num_categories=3"]) == 0
    rows = _listed(capsys.readouterr().out)
    assert rows["data.name"][0] == "mnist5k"  # the preset's value
    assert rows["method.num_categories"][0] == "3"  # the override
    assert main(["config", "mnist5k", "--set", "method.nope=3"]) == 2
    assert "method.nope: unknown key" in capsys.readouterr().err


def test_presets_have_a_description(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == preset_names()
    for line in lines:
        name, description = line.split(None, 1)
        assert len(description) > 20, name


def test_a_yaml_syntax_error_gives_its_line(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("method:\n  name: cgpgan\n  lambda_cgp: 1.0: 2.0\n")
    assert main(["config", str(path)]) == 2
    error = capsys.readouterr().err
    assert "invalid YAML at line 3, column" in error
    assert "mapping values are not allowed" in error


def _one_line_error(capsys, *names: str) -> str:
    error = capsys.readouterr().err
    assert error.startswith("cgpgan: error: ") and error.count("\n") == 1, error
    assert "Traceback" not in error
    assert all(name in error for name in names), error
    return error


def test_train_into_an_unwritable_out_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "file.md"
    blocker.write_text("a file, not a folder\n")
    assert main(["train", "gaussians2d", "--quiet", "--out", str(blocker / "x")]) == 2
    _one_line_error(capsys, str(blocker / "x"))
    assert blocker.read_text() == "a file, not a folder\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.md"]  # nothing half-written


def test_sample_and_cluster_into_an_unwritable_out_are_one_line_errors(
    tmp_path, capsys, tiny_config
):
    run = train(tiny_config(), tmp_path / "run", progress=False)
    folder = tmp_path / "taken.csv"
    folder.mkdir()  # a folder where the output file should go
    assert main(["sample", str(run.directory), "-n", "5", "--out", str(folder)]) == 2
    _one_line_error(capsys, str(folder))
    assert main(["cluster", str(run.directory), "--out", str(folder)]) == 2
    _one_line_error(capsys, str(folder))
