"""Nearest neighbours in fc7 space (AK 6.1, Fig. 4 right).

AK show, for a test image, the training images whose last hidden layer
(the 4096-d fc7, after its ReLU: the net's ``penultimate`` role, the default
``layer``) is nearest in Euclidean distance:
they share the class, though not the pixels. The reference features are
computed once, in batches, and may be cached on disk keyed by the weights
and the images, so the app pays for a pass over the training set only once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from alexnet.checkpoint import CheckpointError, load_checkpoint, save_atomic
from alexnet.data import CIFAR10_MEAN, CIFAR10_STD, TensorDataset

from ._layers import check_layer, forward_until, image_batch, model_device, raw_images, role, takes_any_net


@dataclass
class Neighbours:
    """The k reference images nearest to each query, nearest first."""

    indices: torch.Tensor  # (B, k) into the reference set
    distances: torch.Tensor  # (B, k) Euclidean, in fc7 space


@takes_any_net
def features(model: nn.Module, images, mean=CIFAR10_MEAN, std=CIFAR10_STD, batch_size: int = 256,
             progress: Callable[[int, int], None] | None = None, layer: str | None = None) -> torch.Tensor:
    """(N, D) features of ``layer`` (default: the net's ``penultimate`` role, fc7) for ``images``
    (a TensorDataset, uint8 or normalised float tensor), on the CPU.

    uint8 images are normalised with ``mean``/``std``. ``progress(done, total)``
    is called after every batch. The caller sets the model's mode (eval).
    """
    layer = check_layer(model, role(model, "penultimate", layer))
    x = raw_images(images)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    device, n, out = model_device(model), len(x), []
    with torch.inference_mode():
        for i in range(0, n, batch_size):
            batch = image_batch(x, slice(i, i + batch_size), mean, std, device)
            out.append(forward_until(model, batch, layer).flatten(1).float().cpu())  # (b, D)
            if progress is not None:
                progress(min(i + batch_size, n), n)
    return torch.cat(out).clone()  # a plain tensor, not an inference tensor


def _digest(tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


@takes_any_net
def cache_key(model: nn.Module, images, mean=CIFAR10_MEAN, std=CIFAR10_STD, layer: str | None = None) -> str:
    """Hash of the layer, the weights, the mode, the images' bytes and the normalisation."""
    layer = check_layer(model, role(model, "penultimate", layer))
    weights = _digest(model.state_dict().values())
    data = _digest([raw_images(images), torch.tensor(mean), torch.tensor(std)])
    mode = "train" if model.training else "eval"
    return f"{layer}-{mode}-{weights[:16]}-{data[:16]}"


@takes_any_net
def reference_features(model: nn.Module, images, mean=CIFAR10_MEAN, std=CIFAR10_STD,
                       batch_size: int = 256, cache_dir=None,
                       progress: Callable[[int, int], None] | None = None,
                       layer: str | None = None) -> torch.Tensor:
    """``features`` of the reference set, read from / written to ``cache_dir`` when given.

    The file is named by ``cache_key``, so other weights or images never hit
    it; it is written atomically and read with ``weights_only=True``. A
    damaged or mismatching file is recomputed and replaced.
    """
    if cache_dir is None:
        return features(model, images, mean, std, batch_size, progress, layer)
    key = cache_key(model, images, mean, std, layer)
    path = Path(cache_dir).expanduser() / f"{key}.pt"
    n = len(raw_images(images))
    if path.is_file():
        try:
            saved = load_checkpoint(path)
            f = saved.get("features")
            if saved.get("key") == key and isinstance(f, torch.Tensor) and f.dim() == 2 and len(f) == n:
                if progress is not None:
                    progress(n, n)
                return f
        except CheckpointError:
            pass  # rebuilt below
    f = features(model, images, mean, std, batch_size, progress, layer)
    save_atomic({"key": key, "features": f}, path)
    return f


def _check_k(k, n: int) -> int:
    if n == 0:
        raise ValueError("the reference set is empty; give at least one reference image")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer from 1 to {n} (the reference set's size), got {k!r}")
    return n


def nearest(query: torch.Tensor, reference: torch.Tensor, k: int = 6, chunk: int = 8192) -> Neighbours:
    """The ``k`` rows of ``reference`` (N, D) nearest to each row of ``query`` (B, D).

    Ranks with |q|^2 - 2 q.r + |r|^2 in float64, a chunk of the reference at
    a time, then measures the chosen distances directly: exact, and never an
    (B, N, D) tensor.
    """
    if reference.dim() != 2:
        raise ValueError(f"reference must be (N, D) features, got shape {tuple(reference.shape)}")
    n = _check_k(k, len(reference))
    if query.dim() != 2 or query.shape[1] != reference.shape[1]:
        raise ValueError(f"query features {tuple(query.shape)} do not match the reference's "
                         f"{tuple(reference.shape)}: both must come from the same layer")
    q = query.to(reference.device, torch.float64)
    best_d = torch.full((len(q), 0), 0.0, dtype=torch.float64, device=q.device)
    best_i = torch.zeros((len(q), 0), dtype=torch.long, device=q.device)
    for i in range(0, n, chunk):
        r = reference[i:i + chunk].double()  # (c, D)
        d2 = (q * q).sum(1, keepdim=True) - 2 * q @ r.T + (r * r).sum(1)  # (B, c) squared
        idx = torch.arange(i, i + len(r), device=q.device).expand(len(q), -1)
        d2, idx = torch.cat([best_d, d2], 1), torch.cat([best_i, idx], 1)
        best_d, pick = d2.topk(min(k, d2.shape[1]), dim=1, largest=False)  # sorted, nearest first
        best_i = idx.gather(1, pick)
    dist = (reference[best_i].double() - q[:, None]).norm(dim=2)  # (B, k) measured directly
    return Neighbours(best_i, dist.to(reference.dtype))


@takes_any_net
def nearest_neighbours(model: nn.Module, queries, reference, k: int = 6, mean=CIFAR10_MEAN,
                       std=CIFAR10_STD, batch_size: int = 256, cache_dir=None,
                       progress: Callable[[int, int], None] | None = None,
                       layer: str | None = None) -> Neighbours:
    """AK Fig. 4 right: the ``k`` reference images nearest in ``layer`` (default: the
    net's ``penultimate`` role, fc7) to each query image.

    ``queries``: (B, 3, H, W) images (normalised float, or uint8 normalised
    with ``mean``/``std``); ``reference``: a TensorDataset or image tensor, or
    an (N, D) tensor of precomputed ``reference_features``.
    """
    if isinstance(reference, torch.Tensor) and reference.dim() == 2:
        ref = reference
    else:
        n = len(reference.images if isinstance(reference, TensorDataset) else reference)
        _check_k(k, n)  # before the pass over the reference set, not after
        ref = reference_features(model, reference, mean, std, batch_size, cache_dir, progress, layer)
    q = features(model, queries, mean, std, batch_size, layer=layer)
    return nearest(q, ref, k)
