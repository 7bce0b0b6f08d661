"""Image evaluation (SPEC.md section 5): clustering of real data by argmax Q(x),
baselines on the same data, self-accuracy, and FID-family image quality.

Clustering (per label; the first label's scores are the headline ones):
- accuracy: one-to-one Hungarian matching of categories to classes;
- accuracy_many_to_one: each category mapped to its majority class (purity), the
  fair score when K exceeds the number of classes;
- nmi, ari: scikit-learn;
- prior_class_error: after the Hungarian matching, the largest absolute difference
  between a class's frequency and the prior of its matched category.
Baselines: k-means and a Gaussian mixture on raw pixels and on PCA-50 features.
Image quality: FID and KID through torchmetrics with any feature extractor (a torch
module mapping images in [0, 1] to [B, F] features), improved precision/recall
(Kynkaenniemi et al. 2019) on the same features with scikit-learn neighbours.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

from cgpgan.metrics.clustering import clustering_scores, contingency


@torch.no_grad()
def classify_all(method, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor | None:
    """Q's category probabilities [N, L, K] of `images`, in batches; None without Q."""
    outputs = []
    for start in range(0, len(images), batch_size):
        probabilities = method.classify(images[start : start + batch_size].to(method.device))
        if probabilities is None:
            return None
        outputs.append(probabilities.cpu())
    return torch.cat(outputs)


@torch.no_grad()
def generate_all(
    method, num_samples: int, seed: int, batch_size: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """`num_samples` images from the averaged generator with c ~ P(C), and their
    one-hot categories."""
    generator = torch.Generator(device=method.device).manual_seed(seed)
    images, categories = [], []
    for start in range(0, num_samples, batch_size):
        count = min(batch_size, num_samples - start)
        category = method.prior.sample(count, generator)
        images.append(method.generate(method.sample_latent(count, generator), category).cpu())
        categories.append(category.cpu())
    return torch.cat(images), torch.cat(categories)


def clustering_of(assignments: np.ndarray, labels: np.ndarray, prior: np.ndarray) -> dict:
    """Scores of one label's assignments, its contingency table and matched prior."""
    scores = clustering_scores(assignments, labels)
    table = contingency(assignments, labels, num_categories=len(prior))
    rows, columns = linear_sum_assignment(table, maximize=True)
    class_frequency = np.bincount(labels, minlength=table.shape[1]) / len(labels)
    matched_prior = np.zeros_like(class_frequency)
    matched_prior[columns] = prior[rows]
    scores["prior_class_error"] = float(np.abs(matched_prior - class_frequency).max())
    scores["contingency"] = table.tolist()
    return scores


@torch.no_grad()
def evaluate_images(method, dataset, num_samples: int, seed: int = 0) -> dict:
    """Every metric that needs no external feature extractor."""
    prior = method.prior.probabilities.detach().cpu().double()
    metrics: dict = {
        "live_categories": int(method.prior.live_categories()[0]),
        "prior_entropy": float(-(prior[0] * prior[0].clamp_min(1e-12).log()).sum()),
        "prior": prior.tolist(),
    }
    probabilities = classify_all(method, dataset.images)
    if probabilities is not None:
        fakes, categories = generate_all(method, min(num_samples, 5000), seed)
        fake_probabilities = classify_all(method, fakes)
        agreement = fake_probabilities.argmax(dim=2) == categories.argmax(dim=2)
        metrics["self_accuracy"] = float(agreement.float().mean())
        metrics["real_confidence"] = float(probabilities.max(dim=2).values.mean())
        metrics["real_category_share"] = (
            probabilities[:, 0].argmax(dim=1).bincount(minlength=prior.shape[1]).double()
            / len(probabilities)
        ).tolist()
        if dataset.labels is not None:
            labels = dataset.labels.numpy()
            for label in range(probabilities.shape[1]):
                scores = clustering_of(
                    probabilities[:, label].argmax(dim=1).numpy(), labels, prior[label].numpy()
                )
                if label == 0:
                    metrics.update(scores)
                else:
                    metrics[f"label{label}"] = scores
    return metrics


def baseline_scores(
    images: torch.Tensor, labels: np.ndarray, seed: int = 0, components: int = 50
) -> dict:
    """k-means and a Gaussian mixture (as many clusters as classes) on raw pixels and
    on PCA features; each with accuracy, many-to-one accuracy, NMI and ARI."""
    num_classes = int(labels.max()) + 1
    pixels = images.flatten(1).numpy().astype(np.float64)
    pca = PCA(n_components=min(components, *pixels.shape), random_state=seed).fit_transform(pixels)
    results = {}
    for feature_name, features in (("pixels", pixels), (f"pca{components}", pca)):
        kmeans = KMeans(num_classes, n_init=10, random_state=seed).fit_predict(features)
        results[f"kmeans_{feature_name}"] = clustering_scores(kmeans, labels)
        covariance = "diag" if features.shape[1] > 100 else "full"
        mixture = GaussianMixture(
            num_classes, covariance_type=covariance, reg_covar=1e-3, random_state=seed
        ).fit(features)
        results[f"gmm_{feature_name}"] = clustering_scores(mixture.predict(features), labels)
    return results


# ---------------------------------------------------------------- image quality


class _Features(torch.nn.Identity):
    """Precomputed features as the 'extractor' of torchmetrics' FID and KID."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features


@torch.no_grad()
def extract_features(
    extractor: torch.nn.Module, images: torch.Tensor, batch_size: int = 250
) -> torch.Tensor:
    device = next(extractor.parameters(), torch.empty(0)).device
    return torch.cat(
        [
            extractor(images[i : i + batch_size].to(device)).double().cpu()
            for i in range(0, len(images), batch_size)
        ]
    )


def image_quality(
    real: torch.Tensor,
    fake: torch.Tensor,
    extractor: torch.nn.Module,
    seed: int = 0,
    neighbours: int = 3,
) -> dict:
    """FID, KID (torchmetrics) and improved precision/recall of `fake` against `real`.

    Images are in [-1, 1]; the extractor receives them in [0, 1].
    """
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    real_features = extract_features(extractor, (real + 1) / 2)
    fake_features = extract_features(extractor, (fake + 1) / 2)
    # the metrics get the features through an identity: the extractor runs once per image
    features = _Features(real_features.shape[1])
    fid = FrechetInceptionDistance(feature=features)
    kid = KernelInceptionDistance(
        feature=features, subset_size=min(1000, len(real_features), len(fake_features))
    )
    for metric in (fid, kid):
        metric.update(real_features, real=True)
        metric.update(fake_features, real=False)
    with torch.random.fork_rng(devices=[]):  # KID draws its subsets from the global generator
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    real_features, fake_features = real_features.numpy(), fake_features.numpy()
    return {
        "fid": float(fid.compute()),
        "kid": float(kid_mean),
        "kid_std": float(kid_std),
        "precision": _manifold_coverage(real_features, fake_features, neighbours),
        "recall": _manifold_coverage(fake_features, real_features, neighbours),
    }


class InceptionFeatures(torch.nn.Module):
    """Inception-v3 pool features (2048) of images in [0, 1], from a local weights file
    (`weights-inception-2015-12-05-6726825d.pth`, the file torch-fidelity and pytorch-fid
    download elsewhere); the network is `cgpgan.metrics.inception`, torch only."""

    num_features = 2048

    def __init__(self, weights_path: str):
        super().__init__()
        from cgpgan.metrics.inception import load_fid_inception

        self.model = load_fid_inception(weights_path)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] == 1:
            images = images.repeat(1, 3, 1, 1)
        return self.model((images * 255).round().clamp(0, 255))  # 8-bit levels, as FID expects


def _manifold_coverage(reference: np.ndarray, queries: np.ndarray, neighbours: int) -> float:
    """Share of `queries` inside the union of k-NN balls around the `reference` features."""
    index = NearestNeighbors(n_neighbors=neighbours + 1).fit(reference)
    radii = index.kneighbors(reference)[0][:, -1]  # distance to the k-th other point
    distances, nearest = (
        NearestNeighbors(n_neighbors=min(len(reference), 50)).fit(reference).kneighbors(queries)
    )
    return float((distances <= radii[nearest]).any(axis=1).mean())
