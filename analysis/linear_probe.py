"""A linear softmax classifier on a net's features (ZF 5.1 and 5.2).

ZF kept the ImageNet net fixed and trained only a new softmax (ZF 5.1) or a
linear SVM (ZF 5.2, Table 7) on one layer's features, with a few labelled
images per class. Here: multinomial logistic regression with an L2 penalty on
the weights (not the biases), fitted full-batch by L-BFGS on standardised
features, in float64 on the CPU. The loss is convex, so the fit is the
optimum, not a function of a learning rate or of how long it ran.

Features of a spatial stage are averaged over ``grid`` x ``grid`` cells of the
map (``adaptive_avg_pool2d``), so a layer gives C * grid^2 numbers whatever
the image size; fully connected stages are taken as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ._layers import activations, check_images, check_layer, model_device, takes_any_net

L2 = 1e-3  # penalty on the weights: 0.5 * L2 * |W|^2 added to the mean cross-entropy


@dataclass
class LinearProbe:
    """A fitted softmax classifier: logits = ((x - mean) / std) @ weight.T + bias."""

    weight: torch.Tensor  # (K, D)
    bias: torch.Tensor  # (K,)
    mean: torch.Tensor  # (D,)
    std: torch.Tensor  # (D,)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        z = (x.to(torch.float64) - self.mean) / self.std
        return z @ self.weight.T + self.bias

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x).argmax(1)

    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> float:
        return float((self.predict(x) == y.to(torch.long)).double().mean())


class SplitStats:
    """Mean and spread of an ``accuracy`` tensor with one value per random split."""

    accuracy: torch.Tensor  # (splits,)

    @property
    def mean(self) -> float:
        return float(self.accuracy.mean())

    @property
    def std(self) -> float:
        return float(self.accuracy.std()) if len(self.accuracy) > 1 else 0.0


def fit_softmax(x: torch.Tensor, y: torch.Tensor, num_classes: int | None = None, l2: float = L2,
                standardise: bool = True, max_iter: int = 500) -> LinearProbe:
    """Fit the L2-penalised softmax classifier to features ``x`` (N, D) and labels ``y`` (N,)."""
    if x.dim() != 2 or y.dim() != 1 or len(x) != len(y) or len(x) == 0:
        raise ValueError(f"expected features (N, D) and labels (N,), got {tuple(x.shape)} and {tuple(y.shape)}")
    x, y = x.detach().to("cpu", torch.float64), y.detach().to("cpu", torch.long)
    k = int(num_classes if num_classes is not None else y.max() + 1)
    mean = x.mean(0) if standardise else torch.zeros(x.shape[1], dtype=torch.float64)
    std = x.std(0, unbiased=False).clamp_min(1e-8) if standardise else torch.ones(x.shape[1], dtype=torch.float64)
    z = (x - mean) / std
    w = torch.zeros(k, x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, tolerance_grad=1e-10,
                            tolerance_change=1e-14, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(z @ w.T + b, y) + 0.5 * l2 * w.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return LinearProbe(w.detach(), b.detach(), mean, std)


def split_per_class(labels: torch.Tensor, per_class: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, test) indices: ``per_class`` images of each class for training (seeded), the rest for testing."""
    g = torch.Generator().manual_seed(seed)
    train, test = [], []
    for c in labels.unique().tolist():
        idx = (labels == c).nonzero().flatten()
        if len(idx) <= per_class:
            raise ValueError(f"class {c} has {len(idx)} images: need more than --per-class {per_class} "
                             "(the rest are the test images)")
        idx = idx[torch.randperm(len(idx), generator=g)]
        train.append(idx[:per_class])
        test.append(idx[per_class:])
    return torch.cat(train), torch.cat(test)


def probe_accuracy(features: torch.Tensor, labels: torch.Tensor, per_class: int, splits: int = 3,
                   seed: int = 0, l2: float = L2) -> torch.Tensor:
    """(splits,) test accuracy of the probe, one random train/test split each (seeds seed, seed+1, ...)."""
    k = int(labels.max()) + 1
    out = []
    for s in range(splits):
        tr, te = split_per_class(labels, per_class, seed + s)
        out.append(fit_softmax(features[tr], labels[tr], k, l2).accuracy(features[te], labels[te]))
    return torch.tensor(out, dtype=torch.float32)


def pool_features(t: torch.Tensor, grid: int = 2) -> torch.Tensor:
    """(N, C, H, W) -> (N, C * grid^2) cell means; (N, D) stays as it is."""
    if t.dim() == 4:
        return F.adaptive_avg_pool2d(t, grid).flatten(1)
    return t.flatten(1)


@takes_any_net
def layer_features(model: nn.Module, images: torch.Tensor, layers, grid: int = 2,
                   batch_size: int = 250) -> dict[str, torch.Tensor]:
    """{layer: (N, D)} pooled features of prepared images (N, 3, S, S), float32 on the CPU.

    Runs in batches on the model's device, under no_grad; the model's mode is left as it is
    (call it with the model in eval mode, as for any measurement).
    """
    check_images(images)
    names = [check_layer(model, n) for n in ([layers] if isinstance(layers, str) else layers)]
    device, out = model_device(model), {n: [] for n in names}
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            acts = activations(model, images[i:i + batch_size].to(device), names)
            for n in names:
                out[n].append(pool_features(acts[n], grid).float().cpu())
    return {n: torch.cat(v) for n, v in out.items()}
