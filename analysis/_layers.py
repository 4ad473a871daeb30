"""Shared checks and geometry for the analyses.

Layers are reached through one surface, ``alexnet.stages`` (named stages in
``model.features`` and ``model.classifier``, and the net's ``Roles``); the
hand-worked test nets and torchvision's AlexNet (via ``as_staged``) use it too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from alexnet.data import CIFAR10_MEAN, CIFAR10_STD, TensorDataset, normalize
from alexnet.stages import (activations, check_layer, feature_layers, forward_until, geometry,  # noqa: F401
                            num_channels, role, roles, run_from, stage_geometry, stages, tower_slice)
from alexnet.torchvision_net import as_staged


def takes_any_net(fn):
    """Let an analysis take any net with named stages, torchvision's own ``AlexNet`` too.

    torchvision's parameters are shared into this project's AlexNet with named
    layers (``alexnet.torchvision_net.from_torchvision``), which the analyses walk.
    """
    @functools.wraps(fn)
    def wrapper(model, *args, **kwargs):
        return fn(as_staged(model), *args, **kwargs)
    return wrapper


takes_any_alexnet = takes_any_net  # the earlier name


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
    names, geo = feature_layers(model), geometry(model)
    rows, cols = [y, y], [x, x]
    for name in reversed(names[: names.index(layer) + 1]):
        k, s, p = geo[name]
        rows = [rows[0] * s[0] - p[0], rows[1] * s[0] - p[0] + k[0] - 1]
        cols = [cols[0] * s[1] - p[1], cols[1] * s[1] - p[1] + k[1] - 1]
    return Box(rows[0], cols[0], rows[1] + 1, cols[1] + 1)


forward_to = forward_until  # the earlier name


def per_image(value, default: torch.Tensor, n: int, what: str, unit: str = "an integer") -> torch.Tensor:
    """``value`` (an int or one per image) as a (B,) long tensor checked against [0, n);
    ``default`` (B,) when ``value`` is None."""
    if value is None:
        return default
    b = len(default)
    v = torch.as_tensor(value).reshape(-1)
    if v.dtype.is_floating_point or v.numel() not in (1, b) or bool(((v < 0) | (v >= n)).any()):
        raise ValueError(f"{what} must be {unit} in [0, {n}) or {b} of them (one per image), "
                         f"got {value!r}")
    return v.expand(b).to(default.device, torch.long)
