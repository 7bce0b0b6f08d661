"""FID/KID/precision-recall with the Inception network defined in cgpgan (torch only):
weights files, the TF-1.x resize, an image run end to end, and the 2-D refusal."""

import json
import math

import pytest
import torch

from cgpgan import RunError, load_config, train
from cgpgan.cli import main
from cgpgan.metrics.images import InceptionFeatures, image_quality
from cgpgan.metrics.inception import FidInceptionV3, resize_like_tensorflow1


def write_weights(path, seed: int = 0):
    """A random FID Inception state dict in the layout of the real file: a plain dict of
    tensors without batch norm counters; He-initialised so features keep their scale."""
    torch.manual_seed(seed)
    model = FidInceptionV3()
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, path)
    return str(path)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return write_weights(tmp_path_factory.mktemp("inception") / "inception.pth")


def test_resize_is_tensorflow1_bilinear():
    image = torch.tensor([[1.0, 3.0], [5.0, 7.0]]).view(1, 1, 2, 2)
    # output pixel i reads source i * 2 / 4 (no half-pixel offset), the last one clamps
    row = torch.tensor([1.0, 2.0, 3.0, 3.0])
    expected = torch.stack([row, row + 2, row + 4, row + 4]).view(1, 1, 4, 4)
    assert torch.equal(resize_like_tensorflow1(image, 4), expected)
    assert resize_like_tensorflow1(torch.full((2, 3, 8, 8), 9.0), 299).eq(9).all()


def test_features_are_2048_per_image_and_grey_equals_rgb(weights):
    extractor = InceptionFeatures(weights)
    grey = torch.rand(2, 1, 8, 8)
    features = extractor(grey)
    assert features.shape == (2, 2048) and torch.isfinite(features).all()
    assert features.std() > 0 and not torch.allclose(features[0], features[1])
    assert torch.equal(features, extractor(grey.repeat(1, 3, 1, 1)))


def test_fid_of_identical_sets_is_zero_and_of_different_sets_is_not(weights):
    extractor = InceptionFeatures(weights)
    generator = torch.Generator().manual_seed(0)
    real = torch.rand(6, 1, 8, 8, generator=generator) * 2 - 1
    dark = torch.rand(6, 1, 8, 8, generator=generator) * 0.5 - 1
    same, different = image_quality(real, real, extractor), image_quality(real, dark, extractor)
    assert all(math.isfinite(value) for value in [*same.values(), *different.values()])
    assert abs(same["fid"]) < 1e-3 * different["fid"]
    assert same["precision"] == same["recall"] == 1.0
    assert different["fid"] > 0 and different["kid"] > same["kid"]


def test_a_file_that_is_not_the_inception_state_dict_is_a_one_line_error(tmp_path):
    other = tmp_path / "other.pth"
    torch.save(torch.nn.Linear(2, 2).state_dict(), other)
    with pytest.raises(RunError, match=r"is not the FID Inception-v3 state dict") as error:
        InceptionFeatures(str(other))
    assert "\n" not in str(error.value)
    partial = tmp_path / "partial.pth"
    torch.save({"fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}, partial)
    with pytest.raises(RunError, match=r"lacks \d+ FID Inception-v3 weights"):
        InceptionFeatures(str(partial))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(RunError, match="cannot read Inception weights") as error:
        InceptionFeatures(str(garbage))
    assert "\n" not in str(error.value)


def test_missing_weights_name_the_file_to_fetch(tmp_path):
    with pytest.raises(RunError, match="weights-inception-2015-12-05-6726825d.pth"):
        InceptionFeatures(str(tmp_path / "missing.pth"))


def test_evaluate_inception_on_an_image_run(weights, tmp_path, capsys):
    overrides = [
        "data.name=digits",
        "network.channels=4",
        "network.max_channels=8",
        "network.latent_dim=4",
        "method.num_categories=4",
        "method.warmup_steps=1",
        "train.steps=2",
        "train.batch_size=8",
        "train.eval_samples=8",
        "train.eval_baselines=false",
    ]
    run = train(load_config(None, overrides), tmp_path / "digits", progress=False)
    assert main(["evaluate", str(run.directory), "--inception", weights]) == 0
    metrics = json.loads((run.directory / "metrics.json").read_text())
    for name in ("fid", "kid", "kid_std", "precision", "recall"):
        assert math.isfinite(metrics[name]), name
    assert metrics["fid"] > 0 and 0 <= metrics["precision"] <= 1 and 0 <= metrics["recall"] <= 1
    assert "fid" in capsys.readouterr().out


def test_inception_on_a_2d_run_is_refused(tiny_config, tmp_path, capsys):
    run = train(tiny_config("cgpgan"), tmp_path / "points", progress=False)
    (run.directory / "metrics.json").unlink()
    assert main(["evaluate", str(run.directory), "--inception", "weights.pth"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert "FID/KID apply to image runs only" in error and "(2-D points)" in error
    assert not (run.directory / "metrics.json").exists()  # refused before evaluating
    with pytest.raises(RunError, match="image runs only"):
        run.evaluate(inception="weights.pth", write=False, draw=False)
