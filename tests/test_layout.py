"""The step's layout options change where and in what precision it computes, not what:
channels-last agrees with the default layout to float32 rounding, bf16 autocast to bf16
rounding, and a data set kept on the device draws the very same batches."""

import json
import warnings

import pytest
import torch

from cgpgan import load_config, train
from cgpgan.data import build_dataset
from cgpgan.errors import ConfigError
from cgpgan.training import layout
from cgpgan.training.layout import each_under
from tests.test_images_run import SMALL as DIGITS

SMALL = [*DIGITS, "train.batch_size=16", "train.log_every=1", "train.steps=3", "train.device=cpu"]
RESNET = [
    "network.architecture=resnet",
    "network.equalized_lr=true",
    "method.fake_penalty_weight=1",  # a penalty: double backward through the blur
]


def run_folder(tmp_path, *overrides: str):
    """Where `train_run` trains the run of these overrides."""
    return tmp_path / "-".join(overrides or ["default"]).replace("=", "_")


def train_run(tmp_path, *overrides: str):
    """A run of SMALL with these overrides, trained without evaluation; its folder."""
    out = run_folder(tmp_path, *overrides)
    train(load_config(None, [*SMALL, *overrides]), out, progress=False, evaluate=False)
    return out


def first_step_losses(tmp_path, *overrides: str) -> dict[str, float]:
    """The losses and statistics reported by the first training step."""
    out = train_run(tmp_path, *overrides)
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    return {key: value for key, value in row.items() if key.startswith(("loss/", "penalty/"))}


@pytest.mark.parametrize(
    "options",  # the resnet design's blurred resampling takes other operators per layout
    [["method.name=cgpgan"], ["method.name=mhgan", "data.labelled_fraction=1.0"], RESNET],
)
def test_channels_last_and_bf16_compute_the_same_step(tmp_path, options):
    plain = first_step_losses(tmp_path, *options)
    last = first_step_losses(tmp_path, *options, "train.channels_last=true")
    bf16 = first_step_losses(tmp_path, *options, "train.precision=bf16")
    assert plain and plain.keys() == last.keys() == bf16.keys()
    for name, value in plain.items():
        assert last[name] == pytest.approx(value, rel=1e-4, abs=1e-5), name
        # bf16 keeps 8 bits of mantissa: agreement to a few parts in a hundred
        assert bf16[name] == pytest.approx(value, rel=0.05, abs=0.02), name


def test_a_compiled_generator_computes_the_same_step_and_resumes(tmp_path):
    compiling = ("train.steps=2", "train.compile=generator")
    plain = first_step_losses(tmp_path, "train.steps=2")
    compiled = first_step_losses(tmp_path, *compiling)
    assert plain and plain.keys() == compiled.keys()
    for name, value in plain.items():
        assert compiled[name] == pytest.approx(value, rel=1e-4, abs=1e-5), name
    # its checkpoint holds the same parameter names: a compiled run resumes, eager or not
    run = run_folder(tmp_path, *compiling)
    config = load_config(None, [*SMALL, "train.steps=3"])
    train(config, run, progress=False, evaluate=False, resume=True)
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3
    assert load_config(None, ["train.compile=none"]).train.compile == "none"
    with pytest.raises(ConfigError, match="train.compile"):
        load_config(None, ["train.compile=critic"])


def losses_of_each_step(run) -> list[dict[str, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{key: value for key, value in row.items() if key.startswith("loss/")} for row in rows]


@pytest.mark.parametrize("implementation", ["foreach", "for_loop"])
def test_each_optimiser_implementation_takes_the_same_steps(tmp_path, implementation):
    option = f"train.optimizer_implementation={implementation}"
    fused = losses_of_each_step(
        train_run(tmp_path, "train.steps=4", "train.optimizer_implementation=fused")
    )
    other = losses_of_each_step(train_run(tmp_path, "train.steps=4", option))
    assert len(fused) == len(other) == 4 and fused[-1].keys() == other[-1].keys()
    for fused_row, other_row in zip(fused, other):  # steps 2-4 follow the updates
        for name, value in fused_row.items():
            assert other_row[name] == pytest.approx(value, rel=1e-4, abs=1e-5), name


def test_a_resumed_run_updates_with_the_implementation_its_config_names(tmp_path):
    from cgpgan.run import open_run
    from cgpgan.training.loop import Trainer

    run = train_run(tmp_path, "train.steps=2", "train.optimizer_implementation=for_loop")
    for implementation, fused in (("fused", True), ("for_loop", False)):
        config = load_config(None, [*SMALL, f"train.optimizer_implementation={implementation}"])
        opened = open_run(run)
        opened.config = config
        trainer = Trainer(opened, build_dataset(config.data, config.seed))
        assert trainer.restore_latest()  # the checkpoint was saved by the for-loop Adam
        groups = [g for o in trainer.optimizers.values() for g in o.param_groups]
        assert all(group["fused"] is fused for group in groups), implementation
    config = load_config(None, [*SMALL, "train.steps=3"])
    train(config, run, progress=False, evaluate=False, resume=True)
    assert len(losses_of_each_step(run)) == 3
    with pytest.raises(ConfigError, match="train.optimizer_implementation"):
        load_config(None, ["train.optimizer_implementation=apex"])


def test_a_data_set_kept_on_the_device_draws_the_same_batches():
    config = load_config(None, [*SMALL, "data.labelled_fraction=0.3"]).data
    dataset = build_dataset(config, seed=0)
    resident = dataset.resident(torch.device("cpu"))
    for size in (5, 16):
        here = dataset.batch(size, torch.Generator().manual_seed(size))
        there = resident.batch(size, torch.Generator().manual_seed(size))
        assert torch.equal(here.data, there.data)
        assert torch.equal(here.labels, there.labels)
        assert torch.equal(here.labelled.data, there.labelled.data)
        assert torch.equal(here.labelled.labels, there.labelled.labels)
        assert (there.labelled.labels >= 0).all()


def test_train_device_data_gib_decides_which_data_sets_stay_on_the_gpu(monkeypatch):
    dataset = build_dataset(load_config(None, SMALL).data, seed=0)
    monkeypatch.setattr(dataset, "resident", lambda device: ("kept on", device.type))
    cuda, cpu = torch.device("cuda"), torch.device("cpu")

    def source(device, gib):
        train = load_config(None, [*SMALL, f"train.device_data_gib={gib}"]).train
        return layout.batch_source(dataset, device, train)

    assert source(cuda, 2) == ("kept on", "cuda")
    assert source(cuda, 0) is dataset  # 0: batches come from host memory
    assert source(cuda, dataset.items.nbytes / 2**30 / 2) is dataset  # too large for the limit
    assert source(cpu, 2) is dataset
    with pytest.raises(ConfigError, match="train.device_data_gib"):
        load_config(None, [*SMALL, "train.device_data_gib=-1"])


def test_each_item_of_a_generator_is_made_inside_the_context_and_used_outside():
    inside = []

    def made():
        for value in range(3):
            inside.append(torch.is_autocast_enabled("cpu"))
            yield value

    def context():
        return torch.autocast("cpu", dtype=torch.bfloat16)

    seen = [(value, torch.is_autocast_enabled("cpu")) for value in each_under(context, made())]
    assert seen == [(0, False), (1, False), (2, False)]
    assert inside == [True, True, True]


def test_bf16_on_a_cpu_without_bf16_kernels_warns(monkeypatch):
    config = load_config(None, ["train.precision=bf16"]).train
    monkeypatch.setattr(layout, "cpu_runs_bf16", lambda: False)
    with pytest.warns(UserWarning, match="train.precision=bf16: this CPU lacks"):
        layout.autocast(config, torch.device("cpu"))
    monkeypatch.setattr(layout, "cpu_runs_bf16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layout.autocast(config, torch.device("cpu"))
        layout.autocast(load_config(None, []).train, torch.device("cpu"))


def test_an_unknown_precision_is_refused():
    with pytest.raises(Exception, match="train.precision"):
        load_config(None, ["train.precision=fp8"])


def test_resumed_optimiser_state_takes_the_channels_last_layout_of_its_parameters(tmp_path):
    from cgpgan.run import open_run
    from cgpgan.training.loop import Trainer

    config = load_config(None, [*SMALL, "train.channels_last=true", "train.steps=2"])
    train(config, tmp_path / "run", progress=False, evaluate=False)
    run = open_run(tmp_path / "run")
    trainer = Trainer(run, build_dataset(run.config.data, run.config.seed))
    assert trainer.restore_latest()
    checked = 0
    for optimizer in trainer.optimizers.values():
        for group in optimizer.param_groups:
            for parameter in group["params"]:
                if parameter.dim() != 4:
                    continue
                assert parameter.is_contiguous(memory_format=torch.channels_last)
                for value in optimizer.state[parameter].values():
                    if value.shape == parameter.shape:
                        assert value.stride() == parameter.stride()
                        checked += 1
    assert checked > 0


def test_gaussian_distances_run_in_float32_under_bf16_autocast():
    from cgpgan.structural import bhattacharyya, gaussian_jsd

    generator = torch.Generator().manual_seed(0)
    real, fake = torch.randn(64, 8, generator=generator), torch.randn(64, 8, generator=generator)
    for distance in (gaussian_jsd, bhattacharyya):
        exact = distance(real, fake, 0.5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            under = distance(real.bfloat16(), fake=fake.bfloat16(), eps=0.5)
        assert under.dtype == torch.float32
        # the inputs were rounded to bf16; the arithmetic itself is float32
        assert float(under) == pytest.approx(float(exact), rel=0.05)
