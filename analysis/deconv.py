"""Deconvnet projection of one activation back to pixels (ZF 2.1).

Up: run the image through the named stages, recording every max-pool's
switches (where each maximum came from). Keep one activation of the chosen
layer and zero all others. Down, stage by stage:

- max-pool: unpool, putting each value back where its switch says;
- ReLU (or tanh): rectify the *reconstruction*, whatever the signs were on
  the way up (ZF 2.1: "we pass the reconstructed signal through a relu");
- LRN: skipped; ZF do not invert contrast normalisation;
- conv: filter with the transposed (flipped) kernels, i.e. ``conv_transpose2d``
  with the layer's own weights, stride, padding and groups; no biases.

This is written out stage by stage so the maths is visible. Up to a positive
scale it is what captum's ``NeuronDeconvolution`` computes through autograd
on a net without LRN (captum differentiates LRN instead of skipping it).

Only ``model.features`` is walked: any ``nn.Sequential`` of named conv,
activation, LRN and max-pool stages works.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from alexnet.lrn import LocalResponseNorm

from ._layers import (Box, check_channel, check_images, check_layer, feature_layers, receptive_field,
                      takes_any_net)

RECTIFIERS = (nn.ReLU, nn.Tanh)  # rectified on the way down, whatever the forward non-linearity
SKIPPED = (LocalResponseNorm, nn.LocalResponseNorm, nn.Dropout, nn.Identity)  # identity going down


@dataclass
class Projection:
    """One projected activation per image of the batch."""

    layer: str
    channel: int
    pixels: torch.Tensor  # (B, C_in, H, W) the reconstruction in input space
    value: torch.Tensor  # (B,) the activation that was projected
    position: torch.Tensor  # (B, 2) its (y, x) in the layer's map
    boxes: list[Box]  # per image, its receptive field clipped to the image


def _up(model: nn.Module, x: torch.Tensor, layer: str):
    """Forward to ``layer``; returns its output and, per stage, (module, input shape, switches)."""
    record = []
    for name, m in model.features.named_children():
        switches = None
        if isinstance(m, nn.MaxPool2d):
            # The same pooling as the module, also returning the argmax of every window:
            # flat indices into each (H_in * W_in) input plane.
            y, switches = F.max_pool2d(x, m.kernel_size, m.stride, m.padding, m.dilation,
                                       m.ceil_mode, return_indices=True)
        else:
            y = m(x)
        record.append((name, m, x.shape, switches))
        x = y
        if name == layer:
            return x, record
    raise AssertionError("unreachable")


def _unpool(r: torch.Tensor, switches: torch.Tensor, shape) -> torch.Tensor:
    # Overlapping windows (3x3 stride 2, AK 3.4) can share a switch: the
    # values add up there, as the adjoint of max-pooling does (and autograd).
    b, c, h, w = shape
    flat = r.new_zeros(b, c, h * w).scatter_add_(2, switches.flatten(2), r.flatten(2))
    return flat.view(b, c, h, w)  # (B, C, H_in, W_in)


def _conv_down(r: torch.Tensor, conv: nn.Conv2d, shape) -> torch.Tensor:
    # The transposed convolution maps (B, C_out, h, w) back to (B, C_in, H, W)
    # using the same kernels flipped. A strided conv drops the last input rows
    # when (H + 2p - k) % s != 0: output_padding puts them back (as zeros' images).
    out = []
    for dim in (0, 1):
        k = conv.dilation[dim] * (conv.kernel_size[dim] - 1) + 1
        natural = (r.shape[2 + dim] - 1) * conv.stride[dim] - 2 * conv.padding[dim] + k
        out.append(shape[2 + dim] - natural)
    return F.conv_transpose2d(r, conv.weight, None, conv.stride, conv.padding, tuple(out),
                              conv.groups, conv.dilation)


def _down(r: torch.Tensor, record) -> torch.Tensor:
    for name, m, shape, switches in reversed(record):
        if isinstance(m, nn.Conv2d):
            r = _conv_down(r, m, shape)
        elif isinstance(m, nn.MaxPool2d):
            r = _unpool(r, switches, shape)
        elif isinstance(m, RECTIFIERS):
            r = F.relu(r)
        elif not isinstance(m, SKIPPED):
            raise TypeError(f"the deconvnet cannot go down through {name} ({type(m).__name__}); "
                            "it knows conv, max-pool, ReLU/tanh, LRN and dropout stages")
    return r


def _positions(position, b: int, h: int, w: int, device) -> torch.Tensor:
    pos = torch.as_tensor(position, dtype=torch.long, device=device)
    if pos.shape == (2,):
        pos = pos.expand(b, 2)
    if pos.shape != (b, 2):
        raise ValueError(f"position must be (y, x) or a ({b}, 2) tensor of them, got shape {tuple(pos.shape)}")
    if (pos[:, 0] < 0).any() or (pos[:, 0] >= h).any() or (pos[:, 1] < 0).any() or (pos[:, 1] >= w).any():
        raise ValueError(f"positions must lie in the {h}x{w} map: y in [0, {h}), x in [0, {w})")
    return pos


@takes_any_net
def project(model: nn.Module, images: torch.Tensor, layer: str, channel: int,
            position=None) -> Projection:
    """Project one activation of ``layer``'s map ``channel`` per image to pixels (ZF 2.1).

    ``position``: (y, x) for every image, a (B, 2) tensor (one per image), or
    None for each image's strongest activation in that map. The activation's
    own value is kept (others zeroed), so projections of different images
    compare in scale. Uses the images' device; the model's mode is untouched.
    """
    check_images(images)
    check_layer(model, layer, feature_layers(model))
    check_channel(model, layer, channel)
    with torch.no_grad():
        act, record = _up(model, images, layer)  # (B, C, h, w)
        b, _, h, w = act.shape
        fmap = act[:, channel]  # (B, h, w)
        if position is None:
            flat = fmap.flatten(1).argmax(1)
            pos = torch.stack([flat // w, flat % w], dim=1)
        else:
            pos = _positions(position, b, h, w, images.device)
        rows = torch.arange(b, device=images.device)
        value = fmap[rows, pos[:, 0], pos[:, 1]]  # (B,)
        r = torch.zeros_like(act)
        r[rows, channel, pos[:, 0], pos[:, 1]] = value
        pixels = _down(r, record)  # (B, C_in, H, W)
    height, width = images.shape[-2:]
    boxes = [receptive_field(model, layer, int(y), int(x)).clip(height, width) for y, x in pos.tolist()]
    return Projection(layer, channel, pixels, value, pos, boxes)
