"""Over-cluster, then merge (cgpgan.merging): the merging rule by hand, and the command
on a short digits run."""

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cgpgan import ConfigError, RunError, load_config, train
from cgpgan.cli import main
from cgpgan.data import build_dataset
from cgpgan.merging import (
    majority_groups,
    merge_groups,
    modularity_gain,
    moves_of,
    pooled_rate,
    swap_counts,
)
from cgpgan.metrics.clustering import hungarian_accuracy, many_to_one_accuracy
from tests.conftest import tiny
from tests.test_images_run import SMALL


def test_swap_counts_count_every_moved_copy():
    categories = np.array([0, 0, 1, 2])
    moved = [np.array([0, 1, 1, 2]), np.array([1, 1, 0, 2])]
    counts = swap_counts(categories, moved, 3)
    assert counts.tolist() == [[1, 3, 0], [1, 1, 0], [0, 0, 2]]
    assert counts.sum() == 2 * len(categories)


@pytest.mark.parametrize("linkage", [pooled_rate, modularity_gain])
def test_merge_groups_joins_the_categories_that_swap_most(linkage):
    sizes = np.array([100, 50, 80, 80, 40, 0])  # category 5 holds no item
    swaps = np.diag(sizes * 4)
    swaps[0, 1], swaps[1, 0] = 60, 40  # 0 and 1 split one class: rate 100 / (4 * 150)
    swaps[2, 3], swaps[3, 2] = 30, 34  # 2 and 3 likewise: rate 64 / (4 * 160)
    swaps[3, 4] = 10  # 3 and 4 rarely: rate 10 / (4 * 120)

    def merged(*args, **kwargs):
        return merge_groups(swaps, sizes, 4, *args, **kwargs, linkage=linkage)

    merging = merged(3)
    assert merging.groups == [[0, 1], [2, 3], [4]]
    assert merging.rates == [100 / (4 * 150), 64 / (4 * 160)]  # swap rates, either linkage
    assert merging.next_rate == pytest.approx(10 / (4 * 200))  # {2, 3} and {4}
    assert merged(4).groups == [[0, 1], [2], [3], [4]]
    alone = merged(10)
    assert alone.groups == [[0], [1], [2], [3], [4]] and alone.rates == []  # no empty group
    assert merged().groups == [[0, 1, 2, 3, 4]]
    # without a number of groups: merged while the highest rate is at least min_rate
    assert merged(min_rate=0.11).groups == [[0, 1], [2], [3], [4]]
    assert merged(min_rate=0.1).groups == [[0, 1], [2, 3], [4]]
    assert merged(4, min_rate=0.01).groups == [[0, 1], [2], [3], [4]]
    with pytest.raises(RunError, match="at least 1"):
        merged(0)
    with pytest.raises(RunError, match="min-rate must be in"):
        merged(min_rate=1.0)


def test_modularity_keeps_a_category_that_borders_several_classes_apart():
    """Category 3 mixes classes and swaps with the three categories around it (2, 4, 5),
    with 2 at the highest swap rate of any pair; 0 and 1 split one class. The swap rate
    joins 3 to 2 first; modularity discounts 3's swaps with everyone and joins 0 and 1."""
    sizes = np.full(6, 100)
    swaps = np.zeros((6, 6), dtype=np.int64)
    swaps[0, 1] = swaps[1, 0] = 8  # rate 16 / 200
    swaps[2, 3] = swaps[3, 2] = 11  # rate 22 / 200
    swaps[3, 4] = swaps[4, 3] = swaps[3, 5] = swaps[5, 3] = 10  # rate 20 / 200
    assert merge_groups(swaps, sizes, 1, 5, linkage=pooled_rate).groups[2] == [2, 3]
    by_modularity = merge_groups(swaps, sizes, 1, 5, linkage=modularity_gain)
    assert by_modularity.groups == [[0, 1], [2], [3], [4], [5]]
    assert by_modularity.rates == [16 / 200]


@pytest.mark.parametrize("seed", range(8))
def test_modularity_merging_agrees_with_networkx(seed):
    """Greedy merging by modularity gain is Clauset-Newman-Moore's agglomeration: the
    groups are networkx's `greedy_modularity_communities` cut at the same number, on the
    graph of swaps between categories (swaps within a category are not edges)."""
    community = pytest.importorskip("networkx.algorithms.community")
    import networkx

    generator = np.random.default_rng(seed)
    count = int(generator.integers(5, 12))
    swaps = generator.integers(0, 60, size=(count, count)) * (generator.random((count,) * 2) < 0.4)
    sizes = generator.integers(20, 200, size=count)
    graph = networkx.Graph()
    graph.add_nodes_from(range(count))
    for i in range(count):
        for j in range(i + 1, count):
            if swaps[i, j] + swaps[j, i]:
                graph.add_edge(i, j, weight=int(swaps[i, j] + swaps[j, i]))
    for target in (2, count // 2, count - 1):
        groups = merge_groups(swaps, sizes, 3, target, linkage=modularity_gain).groups
        expected = community.greedy_modularity_communities(
            graph, weight="weight", cutoff=target, best_n=target
        )
        assert groups == sorted(sorted(group) for group in expected)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """CGPGAN on the digits with 10 categories, 100 steps."""
    config = load_config(None, [*SMALL, "train.steps=100", "method.warmup_steps=30"])
    return train(config, tmp_path_factory.mktemp("runs") / "digits", progress=False)


def test_merge_command_writes_a_partition_of_the_live_categories(digits_run, capsys):
    assert main(["merge", str(digits_run.directory), "--categories", "4", "--repeats", "2"]) == 0
    assert "merged:" in capsys.readouterr().out
    assert (digits_run.directory / "plots" / "samples_merged.png").is_file()
    result = json.loads((digits_run.directory / "merge.json").read_text())
    dataset = build_dataset(digits_run.config.data, digits_run.config.seed)
    categories = digits_run.cluster(dataset.items)[0][:, 0].numpy()
    live = sorted(set(categories.tolist()))
    groups = result["groups"]
    assert len(groups) == min(4, len(live)) and result["linkage"] == "modularity"
    assert sorted(c for group in groups for c in group) == live  # each live category once
    group_of = np.array(result["category_group"])
    assert all(group_of[c] == -1 for c in range(10) if c not in live)
    prior = digits_run.prior[0].numpy()
    assert np.allclose(result["group_prior"], [prior[group].sum() for group in groups])
    labels = dataset.labels.numpy()
    merged = group_of[categories]
    assert result["scores"]["accuracy"] == pytest.approx(hungarian_accuracy(merged, labels))
    # merging never makes a category purer
    assert result["scores"]["accuracy_many_to_one"] == pytest.approx(
        many_to_one_accuracy(merged, labels)
    )
    assert many_to_one_accuracy(merged, labels) <= many_to_one_accuracy(categories, labels)
    # the grouping labels would choose: each category with its majority class's; each
    # group then has its own class, so the one-to-one accuracy is the categories' purity
    purity = many_to_one_accuracy(categories, labels)
    assert result["scores_by_majority"]["accuracy"] == pytest.approx(purity)
    assert result["scores_by_majority"]["accuracy_many_to_one"] == pytest.approx(purity)


def test_majority_groups_put_each_category_with_its_class():
    categories = np.array([0, 0, 1, 1, 3, 3, 3])
    labels = np.array([5, 5, 2, 5, 2, 2, 7])
    # category 0: class 5; 1: a tie of 2 and 5, the smaller wins; 3: class 2; 2 holds none
    assert majority_groups(categories, labels, 4) == [[1, 3], [0]]


def test_merge_refuses_points_and_a_bad_count(digits_run, tmp_path, capsys):
    points = train(tiny("cgpgan"), tmp_path / "points", progress=False)
    assert main(["merge", str(points.directory), "--categories", "2"]) != 0
    assert "needs image data" in capsys.readouterr().err
    assert main(["merge", str(digits_run.directory), "--categories", "0"]) != 0
    assert "at least 1" in capsys.readouterr().err
    assert main(["merge", str(digits_run.directory), "--categories", "2", "--repeats", "0"]) != 0
    assert main(["merge", str(digits_run.directory)]) != 0
    assert "give --categories N, --min-rate R, or both" in capsys.readouterr().err
    assert main(["merge", str(digits_run.directory), "--min-rate", "1.5"]) != 0
    assert "--min-rate must be in [0, 1)" in capsys.readouterr().err
    arguments = ["merge", str(digits_run.directory), "--categories", "2", "--linkage", "ward"]
    assert main(arguments) != 0
    assert "linkage must be one of modularity, swap_rate, got 'ward'" in capsys.readouterr().err


def test_merge_by_rate_stops_where_no_two_groups_swap_at_that_rate(digits_run, capsys):
    arguments = ["merge", str(digits_run.directory), "--repeats", "2", "--min-rate", "0.05"]
    assert main(arguments) == 0
    assert "swap rates of the merges" in capsys.readouterr().out
    result = json.loads((digits_run.directory / "merge.json").read_text())
    assert result["min_rate"] == 0.05 and result["target"] == 1
    assert all(rate >= 0.05 for rate in result["merge_rates"]) and result["next_rate"] < 0.05
    live = len({c for group in result["groups"] for c in group})
    assert len(result["groups"]) == live - len(result["merge_rates"])


def test_cluster_merged_gives_each_item_its_categorys_group(digits_run, tmp_path, capsys):
    out = tmp_path / "merged.csv"
    arguments = ["cluster", str(digits_run.directory), "--out", str(out), "--merged"]
    (digits_run.directory / "merge.json").unlink(missing_ok=True)
    assert main(arguments) != 0
    assert "cgpgan merge" in capsys.readouterr().err  # says how to make merge.json
    assert main(["merge", str(digits_run.directory), "--categories", "3", "--repeats", "1"]) == 0
    assert main(arguments) == 0
    rows = list(csv.DictReader(out.open()))
    merged = np.array([int(row["category0"]) for row in rows])
    group_of = np.array(
        json.loads((digits_run.directory / "merge.json").read_text())["category_group"]
    )
    dataset = build_dataset(digits_run.config.data, digits_run.config.seed)
    categories, confidence = digits_run.cluster(dataset.items)
    assert np.array_equal(merged, group_of[categories[:, 0].numpy()])
    # a group is at least as sure as its best member
    sure = np.array([float(row["confidence0"]) for row in rows])
    assert np.all(sure >= confidence[:, 0].numpy() - 1e-4)  # the CSV keeps 4 decimals


def test_an_item_of_a_category_without_a_group_takes_the_surest_group(digits_run):
    assert main(["merge", str(digits_run.directory), "--categories", "3", "--repeats", "1"]) == 0
    path = digits_run.directory / "merge.json"
    merge = json.loads(path.read_text())
    dataset = build_dataset(digits_run.config.data, digits_run.config.seed)
    categories = digits_run.cluster(dataset.items)[0][:, 0]
    lost = int(categories[0])  # as if no item of the merged data had fallen in it
    merge["category_group"][lost] = -1
    merge["groups"] = [[c for c in group if c != lost] for group in merge["groups"]]
    path.write_text(json.dumps(merge))
    groups, sure = digits_run.cluster(dataset.items, merged=True)
    assert groups.min() >= 0 and bool((sure > 0).all())
    probabilities = digits_run.classify(dataset.items)[:, 0]
    summed = torch.stack([probabilities[:, g].sum(dim=1) for g in merge["groups"]], dim=1)
    assert torch.equal(groups[categories == lost, 0], summed[categories == lost].argmax(dim=1))
    path.write_text("{")
    with pytest.raises(RunError, match="not valid JSON"):
        digits_run.cluster(dataset.items, merged=True)


def test_merge_into_merges_at_the_end_of_training(tmp_path, capsys):
    overrides = [*SMALL, "train.steps=40", "method.warmup_steps=20", "method.merge_into=4"]
    run = train(load_config(None, overrides), tmp_path / "run", progress=False)
    merge = json.loads((run.directory / "merge.json").read_text())
    assert merge["target"] == 4 and run.metrics["merged"]["groups"] == len(merge["groups"])
    assert run.metrics["merged"]["accuracy"] == merge["scores"]["accuracy"]
    assert (
        json.loads((run.directory / "metrics.json").read_text())["merged"] == run.metrics["merged"]
    )
    assert (run.directory / "plots" / "samples_merged.png").is_file()
    # a merge of another run's categories is refused, and a new run over this one drops it
    merge_path = run.directory / "merge.json"
    merge_path.write_text(json.dumps({**merge, "category_group": merge["category_group"][:-1]}))
    with pytest.raises(RunError, match="not a merge of this run"):
        run.sample(5, group=0)
    merge_path.write_text(json.dumps(merge))
    assert main(["evaluate", str(run.directory)]) == 0
    assert "merged.prior_class_error" in capsys.readouterr().out
    assert main(["report", str(run.directory)]) == 0
    assert "Samples of the merged groups" in (run.directory / "report.html").read_text()
    overrides = [*SMALL, "train.steps=2"]
    train(load_config(None, overrides), run.directory, overwrite=True, progress=False)
    assert not merge_path.exists()
    assert not (run.directory / "plots" / "samples_merged.png").exists()


def test_merge_into_is_checked_before_training():
    preset = load_config("mnist5k_imbalanced")
    assert (preset.method.num_categories, preset.method.merge_into) == (16, 10)
    assert load_config("digits_imbalanced").data.imbalance_ratio == 10
    with pytest.raises(ConfigError, match="below method.num_categories"):
        load_config(None, [*SMALL, "method.merge_into=10"])
    with pytest.raises(ConfigError, match="merging moves images"):
        load_config(None, ["method.merge_into=2"])  # 2-D points
    with pytest.raises(ConfigError, match="merge_min_rate: merging moves images"):
        load_config(None, ["method.merge_min_rate=0.05"])
    with pytest.raises(ConfigError, match="merge_min_rate"):
        load_config(None, [*SMALL, "method.merge_min_rate=1"])
    with pytest.raises(ConfigError, match="merge_linkage"):
        load_config(None, [*SMALL, "method.merge_linkage=ward"])
    still = ["method.augment_shift=0", "method.augment_rotation=0", "method.augment_scale=0"]
    with pytest.raises(ConfigError, match="needs moves"):
        load_config(None, [*SMALL, *still, "method.merge_into=3"])
    with pytest.raises(ConfigError, match="unknown key"):  # a CGPGAN setting
        load_config(None, [*SMALL, "method.name=infogan", "method.merge_into=3"])
    # a method without moves of its own is merged with CGPGAN's default ones
    assert moves_of(load_config(None, ["method.name=infogan"]).method) == (2, 0.0, 0.0)


def test_a_group_samples_its_members_in_proportion_to_their_priors(digits_run, tmp_path):
    assert main(["merge", str(digits_run.directory), "--categories", "3", "--repeats", "1"]) == 0
    groups = json.loads((digits_run.directory / "merge.json").read_text())["groups"]
    group = max(range(len(groups)), key=lambda g: len(groups[g]))
    members = groups[group]
    probabilities = digits_run.method.prior.probabilities
    saved = probabilities.clone()
    try:  # members' priors far from equal: 1, 2, 3, ... times the first's
        probabilities[0, members] = torch.arange(1.0, len(members) + 1) / 100
        _, categories = digits_run.sample(4000, group=group, seed=1)
    finally:
        probabilities.copy_(saved)
    drawn = categories[:, 0].numpy()
    assert set(drawn.tolist()) <= set(members)
    wanted = np.arange(1.0, len(members) + 1) / np.arange(1.0, len(members) + 1).sum()
    shares = np.array([(drawn == member).mean() for member in members])
    assert np.abs(shares - wanted).max() < 0.04  # 4000 draws: sd under 0.008
    with pytest.raises(RunError, match="out of range"):
        digits_run.sample(5, group=len(groups))
    with pytest.raises(RunError, match="not both"):
        digits_run.sample(5, category=0, group=0)
    with pytest.raises(RunError, match="priors are all 0"):
        probabilities[0, members] = 0.0
        try:
            digits_run.sample(5, group=group)
        finally:
            probabilities.copy_(saved)
    out = tmp_path / "group.npz"
    arguments = ["sample", str(digits_run.directory), "--group", str(group), "-n", "50"]
    assert main([*arguments, "--out", str(out)]) == 0
    assert set(np.load(out)["categories"][:, 0].tolist()) <= set(members)


def test_the_merging_rules_benchmark_scores_cgpgans_rule_as_the_command_does(digits_run):
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from merge_rules import EXPECTED, LINKAGES, REFERENCE, scores_of

    kind, scores = scores_of(digits_run.directory, 4, 2)
    assert kind.startswith("digits") and set(scores) == {*LINKAGES, *EXPECTED, REFERENCE}
    # the same seed and moves as the benchmark; the command's default linkage, and the other
    assert scores["modularity"] == pytest.approx(digits_run.merge(4, 2, write=False)["scores"])
    merged = digits_run.merge(4, 2, write=False, linkage="swap_rate")
    assert scores["pooled"] == pytest.approx(merged["scores"])
    for name in [*LINKAGES, *EXPECTED]:  # no grouping is purer than the majority one
        assert scores[name]["accuracy_many_to_one"] <= scores[REFERENCE]["accuracy"] + 1e-12


def test_expected_swaps_are_the_counts_for_sure_copies_and_keep_every_copy():
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from merge_rules import expected_swaps

    rng = np.random.default_rng(0)
    categories = rng.integers(0, 5, size=40)
    after = [rng.integers(0, 5, size=40) for _ in range(3)]
    sure = [np.eye(5)[copy] for copy in after]  # Q certain of each copy's category
    assert np.array_equal(expected_swaps(categories, sure), swap_counts(categories, after, 5))
    unsure = [rng.dirichlet(np.ones(5), size=40) for _ in range(3)]
    swaps = expected_swaps(categories, unsure)  # every copy counted once in all
    assert swaps.sum(axis=1) == pytest.approx(3 * np.bincount(categories, minlength=5))
    by_hand = sum(copy[categories == 2].sum(axis=0) for copy in unsure)
    assert swaps[2] == pytest.approx(by_hand)


def test_run_classify_works_in_batches_and_refuses_data_of_another_shape(digits_run):
    items = build_dataset(digits_run.config.data, digits_run.config.seed).items[:70]
    whole = digits_run.classify(items, batch_size=len(items))
    assert whole.shape == (70, 1, digits_run.prior.shape[1])
    assert torch.allclose(digits_run.classify(items, batch_size=16), whole, atol=1e-6)
    with pytest.raises(RunError, match="does not fit this run"):
        digits_run.classify(items[:, :, :4])
