"""Held-out and class-conditional scores of image runs (MHGAN's diagnostics and the usual
conditional-GAN scores), with a small evaluation classifier the library trains itself.

- `validation_accuracy`: the method's classifier on the held-out reals
  (`data.validation_fraction`);
- `conditional_accuracy`: the evaluation classifier, trained on the real training images
  and their true classes only (never on the GAN's outputs or its classifier), on generated
  samples of each category, against the category's class: mean over classes and per class;
- `classification_accuracy_score` (CAS): the evaluation classifier trained on generated
  samples only (their categories' classes as labels), tested on the held-out reals;
- `classifier_fid` / `classifier_kid` and `intra_fid` / `intra_kid` (per class, then
  their mean): FID and KID in the evaluation classifier's 128 features, overall and between
  the real images of each class and the samples of its categories.

Categories are classes where the run trained with labels; otherwise each category takes
the class it is matched to on the training images (one-to-one by the Hungarian method
when there are as many categories as classes, its majority class when there are more),
and only live categories (prior >= 1%) are scored. The evaluation classifier's own
accuracy on the held-out reals is reported beside it (`evaluation_classifier_accuracy`):
the ceiling of conditional accuracy.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn

from cgpgan.metrics.batches import classify_all, generate_all
from cgpgan.metrics.clustering import contingency
from cgpgan.metrics.images import image_quality
from cgpgan.prior import LIVE_THRESHOLD

FEATURES = 128  # width of the evaluation classifier's last hidden layer


class EvaluationClassifier(nn.Module):
    """Two 3x3 convolutions (32 and 64 maps, each with ReLU and 2x2 max pooling), a dense
    layer of 128 units and the class logits; images in [-1, 1]."""

    def __init__(self, channels: int, size: int, num_classes: int):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * (size // 4) ** 2, FEATURES),
            nn.ReLU(),
        )
        self.head = nn.Linear(FEATURES, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(images))

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        return torch.cat(
            [
                self(images[i : i + batch_size]).argmax(dim=1)
                for i in range(0, len(images), batch_size)
            ]
        )


class _Features(nn.Module):
    """The evaluation classifier's features of images in [0, 1] (an `extractor`)."""

    def __init__(self, classifier: EvaluationClassifier):
        super().__init__()
        self.classifier = classifier

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier.trunk(images * 2 - 1)


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    seed: int,
    epochs: int = 10,
    batch_size: int = 128,
) -> EvaluationClassifier:
    """An EvaluationClassifier trained on `images` (CPU) with Adam (lr 1e-3) for
    `epochs` passes in seeded random order; its weights are seeded too."""
    images, labels = images.detach().float().cpu(), labels.long().cpu()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        classifier = EvaluationClassifier(images.shape[1], images.shape[2], num_classes)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=1e-3)
    order = torch.Generator().manual_seed(seed)
    with torch.enable_grad():
        for _ in range(epochs):
            permutation = torch.randperm(len(images), generator=order)
            for start in range(0, len(images), batch_size):
                chosen = permutation[start : start + batch_size]
                loss = F.cross_entropy(classifier(images[chosen]), labels[chosen])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    return classifier.eval().requires_grad_(False)


def category_classes(
    real_probabilities: torch.Tensor, labels: np.ndarray, trained_with_labels: bool
) -> np.ndarray:
    """The class of each category (first label): the category itself for a run trained
    with labels; else matched on the training images (Hungarian when there are as many
    categories as classes, the majority class when there are more)."""
    num_categories = real_probabilities.shape[2]
    if trained_with_labels:
        return np.arange(num_categories)
    assigned = real_probabilities[:, 0].argmax(dim=1).numpy()
    table = contingency(assigned, labels, num_categories)
    if num_categories == table.shape[1]:
        rows, columns = linear_sum_assignment(table, maximize=True)
        return columns[np.argsort(rows)]
    return table.argmax(axis=1)


@torch.no_grad()
def samples_of_categories(
    method, categories: list[int], count: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` samples of each category in `categories` (first label; the others drawn
    from the prior) and their categories, from the averaged generator."""
    generator = torch.Generator(device=method.device).manual_seed(seed)
    samples, chosen = [], []
    for category in categories:
        one_hot = method.prior.sample(count, generator)
        one_hot[:, 0] = 0
        one_hot[:, 0, category] = 1
        samples.append(method.generate(method.sample_latent(count, generator), one_hot).cpu())
        chosen.append(torch.full((count,), category))
    return torch.cat(samples), torch.cat(chosen)


def held_out_accuracy(classifier: EvaluationClassifier, validation) -> float:
    """Share of the held-out images that `classifier` puts in their true class."""
    return float((classifier.predict(validation.images) == validation.labels).float().mean())


def validation_accuracy(method, validation, classes: np.ndarray) -> dict:
    probabilities = classify_all(method, validation.images)
    predicted = classes[probabilities[:, 0].argmax(dim=1).numpy()]
    return {"validation_accuracy": float((predicted == validation.labels.numpy()).mean())}


def conditional_scores(
    method,
    dataset,
    classifier: EvaluationClassifier,
    classes: np.ndarray,
    num_samples: int,
    seed: int,
) -> dict:
    """Conditional accuracy and the overall and intra-class FID/KID (see the module)."""
    labels = dataset.labels.numpy()
    num_classes = int(labels.max()) + 1
    prior = method.prior.probabilities[0].cpu()
    live = [int(k) for k in torch.nonzero(prior >= LIVE_THRESHOLD).flatten()]
    per_category = max(num_samples // max(len(live), 1), 100)
    samples, categories = samples_of_categories(method, live, per_category, seed)
    sample_classes = torch.from_numpy(classes[categories.numpy()])
    correct = (classifier.predict(samples) == sample_classes).float()
    extractor = _Features(classifier)
    accuracy, intra_fid, intra_kid = [], [], []
    for k in range(num_classes):
        mine = sample_classes == k
        if not mine.any():
            accuracy.append(None), intra_fid.append(None), intra_kid.append(None)
            continue
        accuracy.append(float(correct[mine].mean()))
        quality = image_quality(dataset.images[labels == k], samples[mine], extractor, seed)
        intra_fid.append(quality["fid"])
        intra_kid.append(quality["kid"])
    fake, _ = generate_all(method, min(num_samples, len(dataset.images)), seed)
    overall = image_quality(dataset.images, fake, extractor, seed)
    scored = [a for a in accuracy if a is not None]
    return {
        "conditional_accuracy": float(np.mean(scored)) if scored else 0.0,
        "conditional_accuracy_per_class": accuracy,
        "classifier_fid": overall["fid"],
        "classifier_kid": overall["kid"],
        "intra_fid": float(np.mean([f for f in intra_fid if f is not None])),
        "intra_kid": float(np.mean([f for f in intra_kid if f is not None])),
        "intra_fid_per_class": intra_fid,
    }


def classification_accuracy_score(
    method, dataset, classes: np.ndarray, num_classes: int, seed: int
) -> dict:
    """CAS: a classifier trained on as many generated samples (c ~ P(C)) as the real
    training set has images, tested on the held-out reals."""
    fake, categories = generate_all(method, len(dataset.images), seed)
    fake_classes = torch.from_numpy(classes[categories[:, 0].argmax(dim=1).numpy()])
    classifier = train_classifier(fake, fake_classes, num_classes, seed)
    return {"classification_accuracy_score": held_out_accuracy(classifier, dataset.validation)}
