"""Sweeps, unsupervised run selection, consensus clustering and the HTML report."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from cgpgan.errors import ConfigError
from cgpgan.report import write_report
from cgpgan.selection import (
    consensus_clustering,
    mean_pairwise_ari,
    rank_correlations,
    setting_medoid,
)
from cgpgan.sweep import parse_grid, parse_seeds, plan, sweep
from cgpgan.training.loop import train
from tests.conftest import tiny

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


def small(*overrides):
    return tiny("cgpgan", "train.steps=30", "train.log_every=10", *overrides).to_dict()


def test_plan_trains_every_grid_combination_for_every_seed_with_readable_names():
    grid = parse_grid(["method.lambda_cgp=0.1,1", "method.num_categories=4,6"])
    runs = plan(small(), parse_seeds("0,3"), grid)
    assert [run.name for run in runs][:3] == [
        "lambda_cgp=0.1-num_categories=4-seed0",
        "lambda_cgp=0.1-num_categories=4-seed3",
        "lambda_cgp=0.1-num_categories=6-seed0",
    ]
    assert len(runs) == 8 and len({run.name for run in runs}) == 8
    last = runs[-1]
    assert last.overrides == ["method.lambda_cgp=1", "method.num_categories=6", "seed=3"]
    assert (last.config.method.lambda_cgp, last.config.method.num_categories) == (1.0, 6)
    assert last.config.seed == 3


@pytest.mark.parametrize(
    "grid, seeds, message",
    [
        (["method.lambda_cgp"], "0", "expected KEY=VALUE1,VALUE2"),
        (["method.lambda_cgp=1", "method.lambda_cgp=2"], "0", "given twice"),
        ([], "0,x", "expected integers"),
        ([], "1,1", "a seed is given twice"),
        (["method.lambda_cgp=-1"], "0", "lambda_cgp"),  # validated before anything trains
    ],
)
def test_bad_sweep_settings_are_refused_in_one_line(grid, seeds, message):
    with pytest.raises(ConfigError, match=message):
        plan(small(), parse_seeds(seeds), parse_grid(grid))


def test_mean_pairwise_ari_is_the_mean_over_the_other_runs():
    a = np.array([0, 0, 1, 1, 2, 2])
    b = np.array([1, 1, 0, 0, 2, 2])  # a renamed: ARI 1
    c = np.array([0, 1, 0, 1, 0, 1])
    ab, ac, bc = (adjusted_rand_score(*pair) for pair in [(a, b), (a, c), (b, c)])
    assert ab == pytest.approx(1.0)
    assert mean_pairwise_ari([a, b, c]) == pytest.approx([(ab + ac) / 2, (ab + bc) / 2, ac])


def test_the_selected_run_is_its_settings_medoid_and_a_tie_goes_to_the_criterion():
    a = np.repeat([0, 1, 2], 4)
    near_a, also_near_a = a.copy(), a.copy()
    near_a[0], also_near_a[11] = 1, 1  # one item moved each: a is between them
    other = np.tile([0, 1, 2], 4)

    def runs(*criteria):
        return [
            {"directory": f"run{i}", "scores": {"agreement": c}} for i, c in enumerate(criteria)
        ]

    # the medoid, not the run with the highest criterion
    clusterings = [near_a, a, also_near_a, other]
    within = mean_pairwise_ari(clusterings)
    assert setting_medoid(runs(0.8, 0.1, 0.8, 0.9), within, "agreement") == "run1"
    # two seeds agree with each other equally: the criterion decides
    two = mean_pairwise_ari([a, other])
    assert setting_medoid(runs(0.3, 0.7), two, "agreement") == "run1"
    assert setting_medoid(runs(0.8, 0.7), two, "agreement") == "run0"
    assert setting_medoid(runs(0.5), mean_pairwise_ari([a]), "agreement") == "run0"  # one seed


def test_consensus_recovers_the_clusters_most_runs_agree_on():
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1, 2], 40)
    runs = []
    for _ in range(7):  # each run renames the categories and gets 15% of the items wrong
        names = rng.permutation(3)
        noisy = np.where(rng.random(len(truth)) < 0.15, rng.integers(0, 3, len(truth)), truth)
        runs.append(names[noisy])
    combined = consensus_clustering(runs, 3)
    assert adjusted_rand_score(truth, combined) == pytest.approx(1.0)
    assert max(adjusted_rand_score(truth, run) for run in runs) < 0.9
    assert set(combined) == {0, 1, 2}


def test_rank_correlation_is_spearman_of_each_criterion_with_accuracy():
    runs = [
        {"scores": {"agreement": a, "confidence": c}, "metrics": {"accuracy": acc}}
        for a, c, acc in [(0.1, 0.9, 0.5), (0.5, 0.2, 0.7), (0.9, 0.5, 0.9), (0.7, 0.1, 0.8)]
    ]
    correlations = rank_correlations({"runs": runs})
    assert correlations["agreement"] == pytest.approx(1.0)
    assert correlations["confidence"] == pytest.approx(-0.4)
    assert np.isnan(correlations["stability"])  # not scored


def test_sweep_trains_scores_selects_reuses_and_resumes(tmp_path):
    out = tmp_path / "sweep"
    # one run was stopped part-way: the sweep resumes it from its checkpoint
    train(tiny("cgpgan", "train.steps=30", "train.log_every=10", "seed=1",
               "train.stop_after=20", "train.checkpoint_every=10",
               "method.lambda_cgp=1"), out / "lambda_cgp=1-seed1", progress=False)  # fmt: skip
    record = sweep(
        small(), out, [0, 1], parse_grid(["method.lambda_cgp=0.1,1"]), workers=2,
        consensus=True, progress=False, say=lambda _: None,
    )  # fmt: skip
    saved = json.loads((out / "sweep.json").read_text())
    assert saved == json.loads(json.dumps(record))
    names = [entry["directory"] for entry in saved["runs"]]
    assert names == [
        "lambda_cgp=0.1-seed0", "lambda_cgp=0.1-seed1", "lambda_cgp=1-seed0", "lambda_cgp=1-seed1"
    ]  # fmt: skip
    assert saved["selected"] in names and saved["criterion"] == "agreement"
    # the selected run: the best of the setting whose two seeds agree best on average
    agreement = {entry["directory"]: entry["scores"]["agreement"] for entry in saved["runs"]}
    mean = {
        setting: np.mean([agreement[f"lambda_cgp={setting}-seed{seed}"] for seed in (0, 1)])
        for setting in ("0.1", "1")
    }
    best_setting = max(mean, key=mean.get)
    of_setting = [f"lambda_cgp={best_setting}-seed{seed}" for seed in (0, 1)]
    assert saved["selected"] == max(of_setting, key=agreement.get)
    assert saved["best_run"] == max(agreement, key=agreement.get)
    for entry in saved["runs"]:
        assert entry["run_metrics"]["step"] == 30
        assert set(entry["scores"]) >= {"agreement", "confidence", "stability", "prior_entropy"}
        assert 0 <= entry["metrics"]["accuracy"] <= 1  # the 2-D mixture has labels
    resumed = [json.loads(line)["step"] for line in open(out / names[3] / "metrics.jsonl")]
    assert resumed == [10, 20, 30]  # continued, not restarted
    assert [row["setting"] for row in saved["settings"]] == [
        "method.lambda_cgp=0.1", "method.lambda_cgp=1"
    ]  # fmt: skip
    [selected_setting] = [row for row in saved["settings"] if row.get("selected")]
    assert selected_setting["setting"] == f"method.lambda_cgp={best_setting}"
    consensus = np.loadtxt(out / "consensus.csv", delimiter=",", skiprows=1, dtype=int)
    assert consensus.shape == (1000, 2)
    assert (out / "report.html").is_file()

    # finished runs are reused, not trained again
    weights = out / names[0] / "checkpoints" / "model.safetensors"
    before = weights.stat().st_mtime_ns
    sweep(small(), out, [0], parse_grid(["method.lambda_cgp=0.1"]), progress=False,
          say=lambda _: None)  # fmt: skip
    assert weights.stat().st_mtime_ns == before
    # ... but only if trained with the configuration asked for
    with pytest.raises(ConfigError, match="network.hidden_dim"):
        sweep(small("network.hidden_dim=8"), out, [0], parse_grid(["method.lambda_cgp=0.1"]),
              progress=False, say=lambda _: None)  # fmt: skip


def test_cluster_command_on_a_sweep_uses_its_selected_run(tmp_path):
    out = tmp_path / "sweep"
    record = sweep(small(), out, [0, 1], workers=1, progress=False, say=lambda _: None)
    csv = tmp_path / "assigned.csv"
    result = subprocess.run(
        [sys.executable, "-m", "cgpgan", "cluster", str(out), "--out", str(csv)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert f"selected run: {out / record['selected']}" in result.stdout
    assert len(csv.read_text().splitlines()) == 1001


def test_report_of_a_run_is_one_self_contained_page(tmp_path):
    run = train(tiny("cgpgan"), tmp_path / "run", progress=False)
    page = write_report(run.directory).read_text()
    assert "<h2>Metrics</h2>" in page and "live_categories" in page
    assert page.count("data:image/png;base64,") >= 3  # samples, prior, curves
    assert "http://" not in page and "https://" not in page  # nothing to fetch


def test_report_refuses_a_folder_that_is_neither_run_nor_sweep(tmp_path):
    from cgpgan.errors import RunError

    with pytest.raises(RunError, match="neither a run directory"):
        write_report(tmp_path)


needs_browser = pytest.mark.skipif(
    BROWSER is None and not os.environ.get("CGPGAN_REQUIRE_BROWSER"),
    reason="no Chromium here (CI installs it and sets CGPGAN_REQUIRE_BROWSER)",
)


def assert_renders_in_headless_chromium(page, tmp_path):
    """The page's own script ran, found every picture shown and no error logged, and a
    screenshot of it is not blank."""
    from matplotlib.image import imread

    assert BROWSER is not None, "CGPGAN_REQUIRE_BROWSER is set but Chromium is not installed"
    flags = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert 'data-check="ok: ' in dom, dom[-2000:]  # every picture shown, no error logged
    picture = tmp_path / "page.png"
    subprocess.run(
        [*flags, "--window-size=1200,1600", f"--screenshot={picture}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pixels = imread(picture)[..., :3]
    assert pixels.std() > 0.05  # not blank: text, tables and pictures
    assert (pixels < 0.5).mean() > 0.01


@needs_browser
def test_sweep_report_renders_in_headless_chromium_without_errors(tmp_path):
    out = tmp_path / "sweep"
    sweep(small(), out, [0, 1], progress=False, say=lambda _: None)
    assert_renders_in_headless_chromium(out / "report.html", tmp_path)


@needs_browser
def test_run_report_renders_in_headless_chromium_without_errors(tmp_path):
    run = train(tiny("cgpgan"), tmp_path / "run", progress=False)
    assert_renders_in_headless_chromium(write_report(run.directory), tmp_path)


def test_a_signal_stops_the_sweep_and_its_runs_with_checkpoints_and_nothing_runs_on(tmp_path):
    """SIGTERM to the sweep's process alone: the runs in progress stop after their step
    with a checkpoint, the third run never starts, no worker goes on training, and the
    same command later finishes the sweep."""
    import signal
    import time

    import yaml

    config = tmp_path / "small.yaml"
    config.write_text(yaml.safe_dump(small("train.steps=2000", "train.log_every=20")))
    out = tmp_path / "sweep"
    command = [sys.executable, "-m", "cgpgan", "sweep", str(config), "--seeds", "0,1,2"]
    command += ["--workers", "2", "--out", str(out), "--quiet"]
    sweep_process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    logs = [out / f"seed{seed}" / "metrics.jsonl" for seed in (0, 1)]
    deadline = time.time() + 120
    while not all(log.is_file() and log.stat().st_size > 0 for log in logs):
        assert time.time() < deadline and sweep_process.poll() is None, "runs did not start"
        time.sleep(0.1)
    sweep_process.send_signal(signal.SIGTERM)
    _, errors = sweep_process.communicate(timeout=120)
    assert sweep_process.returncode == 143, errors
    assert "sweep stopped; the same command continues it" in errors
    assert not (out / "seed2").exists()  # queued runs are not started after a stop
    for seed in (0, 1):
        assert any((out / f"seed{seed}" / "checkpoints").glob("step_*.json"))
        assert not (out / f"seed{seed}" / "metrics.json").exists()  # stopped, not finished
    sizes = [log.stat().st_size for log in logs]
    time.sleep(2)
    assert [log.stat().st_size for log in logs] == sizes  # no worker trains on
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    record = json.loads((out / "sweep.json").read_text())
    assert [entry["run_metrics"]["step"] for entry in record["runs"]] == [2000] * 3


def test_a_failed_run_is_recorded_with_its_error_and_the_others_go_on(tmp_path):
    out = tmp_path / "sweep"
    small_settings = [
        "network.hidden_dim=16",
        "network.depth=2",
        "train.steps=30",
        "train.batch_size=8",
        "data.num_samples=1000",
        "train.eval_samples=400",
        "method.warmup_steps=2",
    ]
    command = [
        *[sys.executable, "-m", "cgpgan", "sweep", "gaussians2d", "--seeds", "0"],
        *["--grid", "train.learning_rate=0.001,1e30", "--out", str(out), "--quiet"],
        *[f"--set={item}" for item in small_settings],
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1
    assert "run learning_rate=1e30-seed0 failed: " in result.stderr
    record = json.loads((out / "sweep.json").read_text())
    failed, trained = record["runs"][1], record["runs"][0]
    assert "error" in failed and "scores" not in failed
    assert trained["run_metrics"]["step"] == 30 and "scores" in trained
    assert record["selected"] == "learning_rate=0.001-seed0"
