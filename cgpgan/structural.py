"""The pieces of the structural adversarial objectives (SPEC.md section 4), as small
functions and one memory: Gaussian distances between two sets of embeddings, the
nearest-neighbour grouping terms, the Jacobian spectral norm by power iteration and the
rolling memory bank of real embeddings.

The log-determinants are those of `I + (p / eps) S` (the authors' code, eps = 0.5): the
same differences as for covariances `S + (eps / p) I`, finite for any sample covariance.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from cgpgan import distributed


def covariance(samples: torch.Tensor) -> torch.Tensor:
    """The sample covariance [p, p] of samples [N, p] (divided by N)."""
    centred = samples - samples.mean(dim=0, keepdim=True)
    return centred.T @ centred / len(samples)


def regularised_logdet(cov: torch.Tensor, eps: float) -> torch.Tensor:
    """log det (I + (p / eps) cov)."""
    size = cov.shape[0]
    eye = torch.eye(size, dtype=cov.dtype, device=cov.device)
    return torch.linalg.slogdet(eye + (size / eps) * cov)[1]


def in_float32(function):
    """`function` computed in float32 (or float64) outside any autocast (log-determinants and solves
    have no bf16 kernels, and covariances need the precision)."""

    @functools.wraps(function)
    def wrapped(*arguments, **options):
        first = next(a for a in (*arguments, *options.values()) if isinstance(a, torch.Tensor))
        with torch.autocast(first.device.type, enabled=False):
            return function(
                *(_at_least_float32(a) for a in arguments),
                **{name: _at_least_float32(a) for name, a in options.items()},
            )

    return wrapped


def _at_least_float32(value):
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.to(torch.promote_types(value.dtype, torch.float32))
    return value


@in_float32
def gaussian_jsd(real: torch.Tensor, fake: torch.Tensor, eps: float = 0.5) -> torch.Tensor:
    """The Gaussian approximation of the Jensen-Shannon divergence between two sets of
    embeddings [N, p]: log det S_union - (log det S_real + log det S_fake) / 2, S_union
    the covariance of the pooled (concatenated) samples."""
    union = covariance(torch.cat([real, fake]))
    return (
        regularised_logdet(union, eps)
        - (regularised_logdet(covariance(real), eps) + regularised_logdet(covariance(fake), eps))
        / 2
    )


@in_float32
def bhattacharyya(real: torch.Tensor, fake: torch.Tensor, eps: float = 0.5) -> torch.Tensor:
    """The Bhattacharyya distance between Gaussians fitted to two sets of embeddings
    (covariances S + (eps / p) I): 1/8 dmu' S_avg^-1 dmu + 1/2 log(det S_avg /
    sqrt(det S_real det S_fake)), S_avg = (S_real + S_fake) / 2."""
    size = real.shape[1]
    cov_real, cov_fake = covariance(real), covariance(fake)
    average = (cov_real + cov_fake) / 2
    shift = (real.mean(dim=0) - fake.mean(dim=0)).unsqueeze(1)
    eye = torch.eye(size, dtype=real.dtype, device=real.device)
    mean_term = (shift.T @ torch.linalg.solve(average + (eps / size) * eye, shift)).squeeze() / 8
    log_term = (
        regularised_logdet(average, eps)
        - (regularised_logdet(cov_real, eps) + regularised_logdet(cov_fake, eps)) / 2
    ) / 2
    return mean_term + log_term


COARSE = {"jsd": gaussian_jsd, "bhattacharyya": bhattacharyya}


def neighbour_attraction(
    embeddings: torch.Tensor, neighbours: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """mean_i sum_j w_ij f_ij . f_i: how close each embedding f_i [B, p] is to its
    neighbours f_ij [B, k, p] (weights w_ij [B, k], summing to 1 over j)."""
    similarity = torch.einsum("bp,bkp->bk", embeddings, neighbours)
    return (weights * similarity).sum(dim=1).mean()


def jacobian_spectral_norm(
    function, x: torch.Tensor, iterations: int = 1, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Per-sample largest singular value [B] of the Jacobian of `function` ([B, ...] ->
    [B, p], each output row depending on its own input row) at `x`, by power iteration
    from a random direction with Jacobian-vector and vector-Jacobian products (double
    back-propagation; differentiable, so it can be penalised). Converges from below."""
    x = x if x.requires_grad else x.detach().requires_grad_(True)
    output = function(x)
    direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    dummy = torch.zeros_like(output, requires_grad=True)
    (transposed,) = torch.autograd.grad(output, x, dummy, create_graph=True)  # J^T w
    sigma = output.new_zeros(len(x))
    for _ in range(iterations):
        direction = F.normalize(direction.flatten(1), dim=1).view_as(x)
        (forward,) = torch.autograd.grad(transposed, dummy, direction, create_graph=True)  # J v
        along = F.normalize(forward, dim=1)
        (back,) = torch.autograd.grad(output, x, along, create_graph=True)  # J^T u
        sigma = back.flatten(1).norm(dim=1)
        direction = back.detach()
    return sigma


class MemoryBank(nn.Module):
    """A rolling memory of real embeddings [size, p] and their keys [size, q]: each batch
    overwrites the oldest entries. Its contents and position are buffers, so checkpoints
    keep them and a resumed run continues exactly."""

    def __init__(self, size: int, embedding_dim: int, key_dim: int):
        super().__init__()
        self.register_buffer("embeddings", torch.zeros(size, embedding_dim))
        self.register_buffer("keys", torch.zeros(size, key_dim))
        self.register_buffer("position", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def add(self, embeddings: torch.Tensor, keys: torch.Tensor) -> None:
        """Store a batch's embeddings and keys (every process's, in multi-process training)."""
        embeddings, keys = distributed.gather(embeddings), distributed.gather(keys)
        size = len(self.embeddings)
        count = min(len(embeddings), size)
        slots = (self.position + torch.arange(count, device=self.position.device)) % size
        self.embeddings[slots] = embeddings[-count:].to(self.embeddings.dtype)
        self.keys[slots] = keys[-count:].to(self.keys.dtype)
        self.position.copy_((self.position + count) % size)
        self.filled.copy_(torch.clamp(self.filled + count, max=size))

    @torch.no_grad()
    def nearest(self, queries: torch.Tensor, k: int, temperature: float = 0.0):
        """The embeddings [B, k, p] of the k entries whose keys are most cosine-similar to
        `queries` [B, q], and their weights [B, k]: uniform, or with `temperature` > 0 the
        mean-shift softmax of the similarities divided by it."""
        keys = F.normalize(self.keys[: self.filled], dim=1)
        similarity = F.normalize(queries, dim=1) @ keys.T
        values, indices = similarity.topk(min(k, int(self.filled)), dim=1)
        if temperature > 0:
            weights = torch.softmax(values / temperature, dim=1)
        else:
            weights = torch.full_like(values, 1.0 / values.shape[1])
        return self.embeddings[: self.filled][indices], weights
