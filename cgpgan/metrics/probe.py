"""Representation probes: how good the features a run's networks learnt are for telling
the classes apart (SPEC.md sections 4 and 5), as the structural-objectives paper scores
them. For data with labels, the labels are used for scoring only.

- `linear_accuracy`: a linear classifier (scikit-learn's logistic regression) on the
  l2-normalised features of a train split, scored on a held-out split (the run's
  validation items where it has them, else a seeded stratified 20%);
- `kmeans_accuracy` (mean), `kmeans_accuracy_std`, `kmeans_nmi`, `kmeans_ari`: spherical
  k-means (k-means on the l2-normalised features) with K = the number of classes, the
  best of 5 starts by inertia, repeated 20 times with different seeds, clusters matched
  to classes one-to-one (Hungarian), on every item;
- the features' geometry on the sphere, on a seeded subset of at most 2,000 items:
  `silhouette` of the true classes (cosine distance; near 0: classes not compact),
  `class_spread` (mean distance between two items of one class over that between two items
  of different classes; 1: the classes are as spread as the whole data), `uniformity` (log
  mean exp(-2 |f - f'|^2) over pairs, Wang and Isola 2020; lower: spread more evenly over
  the sphere) and `pca_dims_90` (principal components that hold 90% of the variance).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score

from cgpgan.data.subsets import stratified_split
from cgpgan.metrics.clustering import hungarian_accuracy


@torch.no_grad()
def features_of(method, items: torch.Tensor, network: str, batch_size: int = 500) -> np.ndarray:
    """l2-normalised features [N, F] of `items` (see `Method.representation`)."""
    method.eval()
    parts = [
        method.representation(items[i : i + batch_size].to(method.device), network).cpu()
        for i in range(0, len(items), batch_size)
    ]
    features = torch.cat(parts).flatten(1).double()
    return torch.nn.functional.normalize(features, dim=1).numpy()


def linear_probe(train: np.ndarray, train_labels, test: np.ndarray, test_labels) -> float:
    classifier = LogisticRegression(max_iter=2000, C=10.0)
    classifier.fit(train, train_labels)
    return float((classifier.predict(test) == test_labels).mean())


def spherical_kmeans(features: np.ndarray, labels: np.ndarray, seed: int, repeats: int) -> dict:
    """k-means scores over `repeats` repetitions (each the best of 5 starts)."""
    num_classes = int(labels.max()) + 1
    accuracy, nmi, ari = [], [], []
    for repeat in range(repeats):
        clusters = KMeans(num_classes, n_init=5, random_state=seed * 1000 + repeat).fit_predict(
            features
        )
        accuracy.append(hungarian_accuracy(clusters, labels))
        nmi.append(normalized_mutual_info_score(labels, clusters))
        ari.append(adjusted_rand_score(labels, clusters))
    return {
        "kmeans_accuracy": float(np.mean(accuracy)),
        "kmeans_accuracy_std": float(np.std(accuracy)),
        "kmeans_nmi": float(np.mean(nmi)),
        "kmeans_ari": float(np.mean(ari)),
    }


def geometry(features: np.ndarray, labels: np.ndarray, seed: int, items: int = 2000) -> dict:
    """How compact the classes are and how evenly the l2-normalised `features` fill the
    sphere (see the module's docstring)."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(features), min(items, len(features)), replace=False)
    subset, classes = features[chosen], labels[chosen]
    squared = np.clip(2.0 - 2.0 * subset @ subset.T, 0.0, None)  # unit vectors
    pairs = np.triu_indices(len(subset), 1)
    same = (classes[:, None] == classes[None, :])[pairs]
    distance = np.sqrt(squared[pairs])
    variance = PCA().fit(features).explained_variance_ratio_
    return {
        "silhouette": float(silhouette_score(subset, classes, metric="cosine")),
        "class_spread": float(distance[same].mean() / distance[~same].mean()),
        "uniformity": float(np.log(np.exp(-2.0 * squared[pairs]).mean())),
        "pca_dims_90": int(np.searchsorted(np.cumsum(variance), 0.9) + 1),
    }


def probe(
    method, dataset, network: str = "critic", seed: int = 0, repeats: int = 20
) -> tuple[dict, np.ndarray, np.ndarray]:
    """The probe scores of `method`'s `network` features on `dataset` (with labels), the
    features' 2-D PCA embedding [N, 2] and the items' classes (for a picture)."""
    labels = dataset.labels.numpy()
    features = features_of(method, dataset.items, network)
    validation = getattr(dataset, "validation", None)
    if validation is not None:
        train, train_labels = features, labels
        test = features_of(method, validation.items, network)
        test_labels = validation.labels.numpy()
    else:
        kept, held_out = stratified_split(labels, 0.2, seed)
        train, train_labels = features[kept], labels[kept]
        test, test_labels = features[held_out], labels[held_out]
    scores = {
        "network": network,
        "feature_dim": int(features.shape[1]),
        "linear_accuracy": linear_probe(train, train_labels, test, test_labels),
        **spherical_kmeans(features, labels, seed, repeats),
        **geometry(features, labels, seed),
    }
    embedding = PCA(2, random_state=seed).fit_transform(features)
    return scores, embedding, labels
