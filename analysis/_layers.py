"""Shared checks and geometry for the analyses.

Everything here needs only ``model.features`` (and ``model.classifier`` where
present) to be ``nn.Sequential`` with named stages, as ``alexnet.model.AlexNet``
has; the hand-worked test nets use the same surface.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from alexnet.data import CIFAR10_MEAN, CIFAR10_STD, TensorDataset, normalize
from alexnet.weights import from_torchvision, is_torchvision_alexnet


def takes_any_alexnet(fn):
    """Let an analysis take torchvision's own ``AlexNet`` module as well.

    Its parameters are shared into this project's AlexNet with named layers
    (``alexnet.weights.from_torchvision``), which the analyses walk.
    """
    @functools.wraps(fn)
    def wrapper(model, *args, **kwargs):
        return fn(from_torchvision(model) if is_torchvision_alexnet(model) else model, *args, **kwargs)
    return wrapper


def stages(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every named stage, input to output: ``features`` then ``classifier``."""
    out = list(model.features.named_children())
    if hasattr(model, "classifier"):
        out += list(model.classifier.named_children())
    return out


def feature_layers(model: nn.Module) -> tuple[str, ...]:
    """The stages whose outputs are spatial maps (conv1 .. pool5)."""
    return tuple(name for name, _ in model.features.named_children())


def check_layer(model: nn.Module, name: str, allowed=None) -> str:
    """``name`` if it is a stage of ``model`` (and in ``allowed``), else a KeyError listing the choices."""
    choices = tuple(allowed) if allowed is not None else tuple(n for n, _ in stages(model))
    if name not in choices:
        raise KeyError(f"no layer named {name!r} here; choose from {', '.join(choices)}")
    return name


def num_channels(model: nn.Module, layer: str) -> int:
    """Channels (conv) or units (fc) in the output of ``layer``."""
    check_layer(model, layer)
    named = stages(model)
    count = None
    for i, (name, m) in enumerate(named):
        if isinstance(m, nn.Conv2d):
            count = m.out_channels
        elif isinstance(m, nn.Linear):
            count = m.out_features
        elif isinstance(m, nn.Flatten):  # its width is the next linear layer's input
            count = next(n.in_features for _, n in named[i:] if isinstance(n, nn.Linear))
        if name == layer:
            return count
    raise AssertionError("unreachable")


def check_channel(model: nn.Module, layer: str, channel: int) -> int:
    """``channel`` if ``layer`` has it, else a ValueError giving the valid range."""
    n = num_channels(model, layer)
    if not isinstance(channel, int) or isinstance(channel, bool) or not 0 <= channel < n:
        raise ValueError(f"channel must be an integer in [0, {n}) for layer {layer!r}, got {channel!r}")
    return channel


def check_images(x: torch.Tensor) -> torch.Tensor:
    """A float (B, C, H, W) batch with B >= 1, else a ValueError saying what was expected."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or not x.is_floating_point() or len(x) == 0:
        what = f"a {x.dtype} tensor of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected a non-empty float batch of images (B, 3, H, W), got {what}")
    return x


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


# ---- image sources: a TensorDataset, a uint8 tensor, or a float tensor ----

def raw_images(images) -> torch.Tensor:
    """The (N, 3, H, W) tensor behind ``images`` (a TensorDataset or a tensor)."""
    x = images.images if isinstance(images, TensorDataset) else images
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or len(x) == 0:
        what = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected a non-empty dataset of images (a TensorDataset or an "
                         f"(N, 3, H, W) tensor), got {what}")
    return x


def image_batch(images, index, mean=CIFAR10_MEAN, std=CIFAR10_STD, device=None) -> torch.Tensor:
    """Images ``index`` of ``images`` as the network's float input.

    uint8 images are scaled and standardised with ``mean``/``std`` (as
    ``alexnet.data.normalize``); float images are taken as already prepared.
    """
    x = raw_images(images)[index]
    if device is not None:
        x = x.to(device)
    return normalize(x, mean, std) if x.dtype == torch.uint8 else x


# ---- receptive fields (geometry of kernel, stride, padding per stage) ----

def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def stage_geometry(module: nn.Module) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(kernel, stride, padding) as (rows, cols) pairs; (1, 1, 0) for pointwise stages."""
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        dil = _pair(getattr(module, "dilation", 1))
        k = tuple(d * (kk - 1) + 1 for kk, d in zip(_pair(module.kernel_size), dil))
        return k, _pair(module.stride), _pair(module.padding)
    return (1, 1), (1, 1), (0, 0)


@dataclass(frozen=True)
class Box:
    """Rows [top, bottom) and columns [left, right) of the input image."""

    top: int
    left: int
    bottom: int
    right: int

    def clip(self, height: int, width: int) -> "Box":
        return Box(max(self.top, 0), max(self.left, 0), min(self.bottom, height), min(self.right, width))

    @property
    def size(self) -> tuple[int, int]:
        return self.bottom - self.top, self.right - self.left


def receptive_field(model: nn.Module, layer: str, y: int, x: int) -> Box:
    """The input pixels unit (y, x) of ``layer`` can see, before clipping to the image.

    Walk down the stages: output rows [a, b] of a stage with kernel k, stride s,
    padding p see input rows [a*s - p, b*s - p + k - 1].
    """
    check_layer(model, layer, feature_layers(model))
    names = feature_layers(model)
    mods = dict(model.features.named_children())
    rows, cols = [y, y], [x, x]
    for name in reversed(names[: names.index(layer) + 1]):
        k, s, p = stage_geometry(mods[name])
        rows = [rows[0] * s[0] - p[0], rows[1] * s[0] - p[0] + k[0] - 1]
        cols = [cols[0] * s[1] - p[1], cols[1] * s[1] - p[1] + k[1] - 1]
    return Box(rows[0], cols[0], rows[1] + 1, cols[1] + 1)


def forward_to(model: nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    """Run the stages from the image up to and including ``layer``."""
    check_layer(model, layer)
    for name, m in stages(model):
        x = m(x)
        if name == layer:
            return x
    raise AssertionError("unreachable")
