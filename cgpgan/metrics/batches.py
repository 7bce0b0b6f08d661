"""The model over many items, in batches: Q's probabilities of data, samples from the
averaged generator, and self-accuracy, which needs only those two."""

from __future__ import annotations

import torch

from cgpgan.prior import category_agreement


@torch.no_grad()
def classify_all(method, items: torch.Tensor, batch_size: int = 500) -> torch.Tensor | None:
    """Q's category probabilities [N, L, K] of `items`, in batches; None without Q."""
    outputs = []
    for start in range(0, len(items), batch_size):
        probabilities = method.classify(items[start : start + batch_size].to(method.device))
        if probabilities is None:
            return None
        outputs.append(probabilities.cpu())
    return torch.cat(outputs)


@torch.no_grad()
def generate_all(
    method, num_samples: int, seed: int, batch_size: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """`num_samples` samples from the averaged generator with c ~ P(C), and their
    one-hot categories."""
    generator = torch.Generator(device=method.device).manual_seed(seed)
    samples, categories = [], []
    for start in range(0, num_samples, batch_size):
        count = min(batch_size, num_samples - start)
        category = method.prior.sample(count, generator)
        samples.append(method.generate(method.sample_latent(count, generator), category).cpu())
        categories.append(category.cpu())
    return torch.cat(samples), torch.cat(categories)


@torch.no_grad()
def self_accuracy(method, num_samples: int, seed: int) -> float | None:
    """Share of generated samples (and labels) whose argmax Q(G(z, c)) is their category
    c, c ~ P(C); None without Q."""
    samples, categories = generate_all(method, num_samples, seed)
    probabilities = classify_all(method, samples)
    if probabilities is None:
        return None
    return float(category_agreement(probabilities, categories).float().mean())
