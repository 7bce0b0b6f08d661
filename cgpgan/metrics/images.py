"""Image evaluation (SPEC.md section 5): clustering of real data by argmax Q(x),
baselines on the same data, and FID-family image quality (self-accuracy is in
`batches.py`; `registry.py` says which of these a run gets).

Q on real data: real_confidence (mean max_k Q(x)), real_category_share (share of the
items in each category of the first label).

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

import warnings

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

from cgpgan.metrics.batches import generate_all
from cgpgan.metrics.clustering import clustering_scores, contingency


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


def real_category_scores(probabilities: torch.Tensor) -> dict:
    """Q on real data, probabilities [N, L, K]: its mean confidence (max_k, over items
    and labels) and the share of items in each category of the first label."""
    assigned = probabilities[:, 0].argmax(dim=1)
    return {
        "real_confidence": float(probabilities.max(dim=2).values.mean()),
        "real_category_share": (
            assigned.bincount(minlength=probabilities.shape[2]).double() / len(probabilities)
        ).tolist(),
    }


def real_clustering(probabilities: torch.Tensor, labels: np.ndarray, prior: np.ndarray) -> dict:
    """`clustering_of` argmax Q(x) for each label of probabilities [N, L, K] against the
    true classes; the first label's scores at the top level, label l's under "label<l>"."""
    metrics: dict = {}
    for label in range(probabilities.shape[1]):
        scores = clustering_of(probabilities[:, label].argmax(dim=1).numpy(), labels, prior[label])
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
    with warnings.catch_warnings():  # that it keeps every feature: a few thousand here
        warnings.simplefilter("ignore", UserWarning)
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


def generated_image_quality(
    method, dataset, extractor: torch.nn.Module, num_samples: int, seed: int = 0
) -> dict:
    """`image_quality` of `num_samples` images from the averaged generator (c ~ P(C))
    against as many real images of `dataset`, drawn without replacement."""
    generator = torch.Generator().manual_seed(seed)
    real = dataset.images[torch.randperm(len(dataset), generator=generator)[:num_samples]]
    fake, _ = generate_all(method, len(real), seed)
    return image_quality(real, fake, extractor.to(method.device).eval(), seed=seed)


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
