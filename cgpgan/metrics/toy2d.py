"""2-D evaluation (SPEC.md section 5): sample quality and mode recovery.

Every generated sample is assigned to its nearest true mode; it is "high quality"
when within 3 standard deviations of it.

- three_sigma_share: share of samples c ~ P(C) that are high quality
  (`real_three_sigma_share` is the same share for real data, 0.989 for these 2-D
  Gaussians; generated samples may exceed it by lying closer to the centres).
- modes_covered: modes holding at least 10% of their expected share of the
  high-quality samples.
- mode_kl: KL(generated mode histogram of the high-quality samples || true
  probabilities).
- category purity: share of a category's samples in its majority mode;
  min_category_purity is the minimum over live categories (prior >= 1%).
  `real_min_mode_purity` is the same for real points (nearest mode vs true mode): the
  ceiling, about 0.991 for the paper's mixture, whose clusters (1, -1) and (0, -2)
  are only 4.7 std apart.
- prior_error: every category mapped to its majority mode, prior mass summed per mode,
  maximum absolute difference to the true probabilities.
- real_accuracy_many_to_one, real_nmi: argmax Q(x) on real points against their modes.
live_categories and prior_entropy, shared with images, are in `registry.py`.
"""

from __future__ import annotations

import torch

from cgpgan.metrics.clustering import clustering_scores
from cgpgan.prior import LIVE_THRESHOLD, fix_category

COVERED_FRACTION = 0.1


@torch.no_grad()
def mode_metrics(method, dataset, num_samples: int, seed: int = 0) -> dict:
    """Sample quality and mode recovery of `num_samples` generated samples (and as many
    per category of the first label) against the true modes; every score but the
    classifier's."""
    generator = torch.Generator(device=method.device).manual_seed(seed)
    true_probabilities = dataset.mode_probabilities.double()
    num_modes = dataset.num_modes

    def generate(category: torch.Tensor) -> torch.Tensor:
        latent = method.sample_latent(len(category), generator)
        return method.generate(latent, category).float().cpu()

    # samples from the prior
    samples = generate(method.prior.sample(num_samples, generator))
    modes, high_quality = dataset.assign_modes(samples)
    real_modes, real_high_quality = dataset.assign_modes(dataset.points[:num_samples])
    histogram = torch.bincount(modes[high_quality], minlength=num_modes).double()
    histogram = histogram / histogram.sum().clamp_min(1)
    present = histogram > 0
    mode_kl = (
        histogram[present]
        * (histogram[present] / true_probabilities[present].clamp_min(1e-12)).log()
    ).sum()

    # samples of each category of the first label (other labels drawn from the prior)
    prior = method.prior.probabilities[0].double().cpu()
    num_categories = len(prior)
    per_category = num_samples  # purity near 0.99 needs many samples to be measured
    purity = torch.zeros(num_categories, dtype=torch.float64)
    majority = torch.zeros(num_categories, dtype=torch.long)
    for category_index in range(num_categories):
        category = fix_category(method.prior.sample(per_category, generator), 0, category_index)
        category_modes, _ = dataset.assign_modes(generate(category))
        counts = torch.bincount(category_modes, minlength=num_modes)
        purity[category_index] = counts.max() / per_category
        majority[category_index] = counts.argmax()
    live = prior >= LIVE_THRESHOLD
    mass = torch.zeros(num_modes, dtype=torch.float64).index_add_(0, majority, prior)

    return {
        "prior_error": float((mass - true_probabilities).abs().max()),
        "three_sigma_share": float(high_quality.double().mean()),
        "real_three_sigma_share": float(real_high_quality.double().mean()),
        "min_category_purity": float(purity[live].min()) if live.any() else 0.0,
        "real_min_mode_purity": _min_mode_purity(
            real_modes, dataset.labels[:num_samples], num_modes
        ),
        "modes_covered": int((histogram >= COVERED_FRACTION * true_probabilities).sum()),
        "mode_kl": float(mode_kl),
        "prior": [round(float(p), 6) for p in prior],
        "category_purity": [round(float(p), 6) for p in purity],
        "category_mode": majority.tolist(),
    }


def real_mode_scores(probabilities: torch.Tensor, modes: torch.Tensor) -> dict:
    """Clustering of real points by argmax Q(x) (first label) against their true modes."""
    scores = clustering_scores(probabilities[:, 0].argmax(dim=1).numpy(), modes.numpy())
    return {"real_accuracy_many_to_one": scores["accuracy_many_to_one"], "real_nmi": scores["nmi"]}


def _min_mode_purity(nearest: torch.Tensor, truth: torch.Tensor, num_modes: int) -> float:
    """The purity ceiling: share of each mode's real points nearest to it, minimum over modes."""
    shares = [
        (nearest[truth == mode] == mode).double().mean()
        for mode in range(num_modes)
        if (truth == mode).any()
    ]
    return float(min(shares))
