"""Telling a good run from a bad one without labels: scores computed from the runs alone,
the criterion that ranks them, and a consensus clustering over them.

Every run clusters the same real data (the data set of the sweep's first run; a seeded
subset of 5,000 items of a larger one), argmax Q(x) of the first label. Scores, each
higher-is-better as a criterion:
- `agreement`: the mean adjusted Rand index between this run's clustering and each other
  run's (runs that find the data's structure agree; failures differ in their own ways);
- `confidence`: Q's mean max-probability on the real data;
- `stability`: the share of items whose category survives a small move of the input
  (Gaussian noise of 0.1 x the data's standard deviation);
- `prior_entropy`: the entropy of the learnt prior;
- `score_gap`: minus the gap between the critic's mean score on real and on generated
  data at the last logged step (a small gap: a generator the critic cannot tell apart).
Scores that need labels (`accuracy`, `nmi`, `ari`) go beside them, for the table only.
The selected run is the medoid of the best grid setting (by the criterion's mean over the
setting's seeds): the run that agrees best with the setting's other seeds, ties (two
seeds) going to the higher criterion. On the sweeps measured, a setting chosen on several
seeds was safer than the single best run of any setting; within it, only the setting's own
seeds vote, since the runs of other settings may share a mistake the setting avoids (as on
digits; docs/selection.md has where it helps and where it does not).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.metrics import adjusted_rand_score

from cgpgan.data import build_dataset
from cgpgan.errors import ConfigError, RunError
from cgpgan.metrics.clustering import clustering_scores
from cgpgan.outputs import read_history

# the default criterion, chosen from the measurements in docs/selection.md
DEFAULT_CRITERION = "agreement"
CRITERIA = ("agreement", "confidence", "stability", "prior_entropy", "score_gap")
NOISE_SCALE = 0.1  # stability: noise std as a share of the data's std
SCORING_ITEMS = 5000  # at most this many items (a seeded subset) are clustered


def check_criterion(criterion: str | None) -> None:
    if criterion is not None and criterion not in CRITERIA:
        raise ConfigError(f"criterion {criterion!r}: choose one of {', '.join(CRITERIA)}")


def score_sweep(
    out: Path, record: dict, criterion: str | None = None, consensus: bool = False
) -> None:
    """Add each trained run's scores (and label metrics where the data have labels), the
    criterion, the selected run and the per-setting summary to the sweep's `record`."""
    criterion = criterion or DEFAULT_CRITERION
    trained = [entry for entry in record["runs"] if "error" not in entry]
    if not trained:
        raise RunError(f"{out}: no run of the sweep trained (see the errors in sweep.json)")
    items, labels, chosen = _scoring_data(out / trained[0]["directory"])
    clusterings = []
    for entry in trained:
        categories, scores = score_run(out / entry["directory"], items)
        entry["scores"] = scores
        clusterings.append(categories)
        if labels is not None:
            entry["metrics"] = clustering_scores(categories, labels)
    for entry, agreement in zip(trained, mean_pairwise_ari(clusterings)):
        entry["scores"]["agreement"] = agreement
    record["criterion"] = criterion
    record["settings"] = summarise_settings(trained, clusterings, criterion)
    # first the setting whose seeds have the best mean criterion, then its medoid
    row = next(row for row in record["settings"] if row.get("selected"))
    members = [entry for entry in trained if setting_of(entry) == row["setting"]]
    record["selected"] = setting_medoid(members, row["run_agreement"], criterion)
    record["best_run"] = _best_run(trained, criterion)  # of any setting, for comparison
    if consensus:
        live = int(np.median([entry["scores"]["live_categories"] for entry in trained]))
        combined = consensus_clustering(clusterings, live)
        record["consensus"] = {"categories": live}
        if labels is not None:
            record["consensus"]["metrics"] = clustering_scores(combined, labels)
        rows = np.stack([chosen, combined], axis=1)
        header = "item,category"  # item: its index in the data set
        np.savetxt(out / "consensus.csv", rows, fmt="%d", delimiter=",", header=header, comments="")


def _scoring_data(run_directory: Path) -> tuple[torch.Tensor, np.ndarray | None, np.ndarray]:
    """The real data every run clusters: the first run's data set, or a seeded subset of
    SCORING_ITEMS of it; its labels (None where there are none) and the items' indices."""
    from cgpgan.config import load_saved_config

    config = load_saved_config(run_directory / "config.yaml")
    dataset = build_dataset(config.data, config.seed)
    chosen = np.arange(len(dataset.items))
    if len(chosen) > SCORING_ITEMS:
        chosen = np.sort(np.random.default_rng(0).choice(len(chosen), SCORING_ITEMS, replace=False))
    labels = None if dataset.labels is None else dataset.labels.numpy()[chosen]
    if labels is not None and (labels < 0).any():
        labels = None  # hidden labels: no label metrics
    return dataset.items[torch.from_numpy(chosen)], labels, chosen


def score_run(directory: Path, items: torch.Tensor, seed: int = 0) -> tuple[np.ndarray, dict]:
    """One run's clustering of `items` and its scores that need no other run."""
    from cgpgan.run import Run

    run = Run.load(directory, device="cpu")
    categories, confidence = run.cluster(items)
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(items.shape, generator=generator) * NOISE_SCALE * items.std()
    moved, _ = run.cluster(items + noise)
    prior = run.prior[0].double()
    scores = {
        "confidence": float(confidence[:, 0].mean()),
        "stability": float((moved[:, 0] == categories[:, 0]).double().mean()),
        "prior_entropy": float(-(prior * prior.clamp_min(1e-12).log()).sum()),
        "live_categories": int((prior >= 0.01).sum()),
        "score_gap": -_critic_gap(directory),
    }
    return categories[:, 0].numpy(), scores


def _critic_gap(directory: Path) -> float:
    """|mean critic score on reals - on generated data| at the last logged step."""
    for row in reversed(read_history(directory)):
        if "score/real" in row and "score/fake" in row:
            return abs(row["score/real"] - row["score/fake"])
    return math.nan


def mean_pairwise_ari(clusterings: list[np.ndarray]) -> list[float]:
    """For each clustering, its mean adjusted Rand index with every other one."""
    count = len(clusterings)
    if count < 2:
        return [math.nan] * count
    table = np.eye(count)
    for i in range(count):
        for j in range(i + 1, count):
            table[i, j] = table[j, i] = adjusted_rand_score(clusterings[i], clusterings[j])
    return [float((table[i].sum() - 1) / (count - 1)) for i in range(count)]


def consensus_clustering(clusterings: list[np.ndarray], num_categories: int) -> np.ndarray:
    """Average-linkage clustering of the co-association matrix (the share of runs that put
    two items in one category) into `num_categories` categories, numbered from 0."""
    stacked = np.stack(clusterings)  # [runs, N]
    together = np.zeros((stacked.shape[1],) * 2)
    for categories in stacked:
        together += categories[:, None] == categories[None, :]
    distance = 1.0 - together / len(stacked)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    return fcluster(tree, t=max(1, num_categories), criterion="maxclust") - 1


def summarise_settings(
    trained: list[dict], clusterings: list[np.ndarray], criterion: str
) -> list[dict]:
    """Per grid setting (a run's overrides without its seed): the live categories and prior
    entropy over seeds (mean, std), the criterion's mean, `run_agreement` (each run's mean
    ARI with the setting's other runs, in the sweep's order) and its mean `seed_agreement`
    (how reproducible the setting's clustering is over seeds); the setting with the best
    mean criterion marked `selected`."""
    groups: dict[str, list[int]] = {}
    for index, entry in enumerate(trained):
        groups.setdefault(setting_of(entry), []).append(index)
    rows = []
    for setting, indices in groups.items():
        entries = [trained[index] for index in indices]
        row = {"setting": setting, "runs": len(entries)}
        for name in ("live_categories", "prior_entropy", criterion):
            values = np.array([entry["scores"][name] for entry in entries], dtype=float)
            row[name] = {"mean": float(values.mean()), "std": float(values.std())}
        row["run_agreement"] = mean_pairwise_ari([clusterings[index] for index in indices])
        row["seed_agreement"] = float(np.mean(row["run_agreement"]))
        if all("metrics" in entry for entry in entries):
            accuracy = np.array([entry["metrics"]["accuracy"] for entry in entries])
            row["accuracy"] = {"mean": float(accuracy.mean()), "std": float(accuracy.std())}
        rows.append(row)
    rows[_argmax([row[criterion]["mean"] for row in rows])]["selected"] = True
    return rows


def setting_of(entry: dict) -> str:
    """A sweep run's grid setting: its overrides without its seed."""
    setting = ", ".join(item for item in entry["config"] if not item.startswith("seed="))
    return setting or "(none)"


def setting_medoid(entries: list[dict], within: list[float], criterion: str) -> str:
    """The directory of the run (of one setting) whose clustering agrees best with the
    setting's other runs (`within`: each run's mean ARI with them, `mean_pairwise_ari`); a
    tie (always, with two seeds) goes to the run with the highest criterion."""
    best = max((value for value in within if not math.isnan(value)), default=math.nan)
    tied = [
        entry
        for entry, value in zip(entries, within)
        if math.isnan(best) or math.isclose(value, best, rel_tol=0, abs_tol=1e-12)
    ]
    return _best_run(tied, criterion)


def _best_run(entries: list[dict], criterion: str) -> str:
    """The directory of the run with the highest criterion."""
    return entries[_argmax([entry["scores"][criterion] for entry in entries])]["directory"]


def _argmax(values: list[float]) -> int:
    """The index of the highest value, NaN counting as lowest (the first if all are NaN)."""
    return max(
        range(len(values)),
        key=lambda index: -math.inf if math.isnan(values[index]) else values[index],
    )


def rank_correlations(record: dict, target: str = "accuracy") -> dict[str, float]:
    """Spearman correlation of each criterion with a label metric over the sweep's runs."""
    from scipy.stats import spearmanr

    trained = [entry for entry in record["runs"] if "metrics" in entry]
    truth = [entry["metrics"][target] for entry in trained]
    correlations = {}
    for name in CRITERIA:
        values = [entry["scores"].get(name, math.nan) for entry in trained]
        finite = np.isfinite(values)
        if finite.sum() < 3 or np.ptp(np.array(values)[finite]) == 0:
            correlations[name] = math.nan
            continue
        correlations[name] = float(
            spearmanr(np.array(values)[finite], np.array(truth)[finite]).statistic
        )
    return correlations
