"""The two towers on two devices, as AlexNet ran on two GTX 580s (AK 3.2).

``TowerParallel(model, [dev_a, dev_b])`` splits a grouped ``AlexNet``
(``towers=2``) into tower A's half of every layer on ``dev_a`` and tower B's
on ``dev_b``. Activations cross between devices only where the paper's
towers talk (AK Fig. 2):

    conv1..pool2   each tower alone        (B, 48, 27, 27) per tower
    conv3          input = both towers     copy (B, 128, 13, 13) each way
    conv4..pool5   each tower alone        (B, 128, 6, 6) per tower
    fc6, fc7       input = both towers     copy (B, 4608) / (B, 2048) each way
    fc8            on dev_a, from both     copy tower B's (B, 2048) to dev_a

Forward and gradients equal the single-device grouped model's. A grouped
conv with groups=2 is two independent convs, and LRN with groups=2 keeps its
window inside a tower, so inside a tower it is plain LRN (groups=1).
Dropout draws one mask for the whole layer on ``dev_a`` with the same call
``nn.Dropout`` makes, so with the same seed the split net trains exactly
like the grouped one (the end-to-end test checks this).
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .lrn import LocalResponseNorm
from .model import CONV_LAYERS, CROSSINGS, FC_LAYERS, AlexNet

CROSSING = CROSSINGS  # the layers whose input comes from both towers: a segment starts at each


def _half(layer: nn.Module, rows: slice) -> nn.Module:
    """Tower's share of a conv/linear: its output channels (and, for a grouped
    conv, the input channels it already sees only), as an ungrouped layer."""
    w, b = layer.weight.detach()[rows], layer.bias.detach()[rows]
    if isinstance(layer, nn.Conv2d):
        # Grouped conv weight is (out, in/groups, k, k): a tower's rows already
        # hold exactly the kernels over its own input maps.
        half = nn.Conv2d(w.shape[1], w.shape[0], layer.kernel_size, stride=layer.stride,
                         padding=layer.padding)
    else:
        half = nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        half.weight.copy_(w)
        half.bias.copy_(b)
    return half


class TowerParallel(nn.Module):
    """A two-tower AlexNet with tower A on ``devices[0]`` and tower B on ``devices[1]``."""

    def __init__(self, model: AlexNet, devices):
        super().__init__()
        if model.config.towers != 2:
            raise ValueError(f"TowerParallel needs a two-tower AlexNet (towers=2); this one has "
                             f"towers={model.config.towers}")
        devices = [torch.device(d) for d in devices]
        if len(devices) != 2:
            raise ValueError(f"give exactly two devices, one per tower, e.g. cuda:0,cuda:1; got {devices}")
        self.devices = devices
        self.config = model.config
        self.dropout = model.config.dropout
        # segments[i][t]: tower t's layers from one crossing point to the next.
        segments, current = [], [[], []]
        for name in model.layer_names:
            if name == "fc8":
                break
            if name in model.roles.crossings and current[0]:
                segments.append(current)
                current = [[], []]
            module = model.layer(name)
            for t in range(2):
                if name in CONV_LAYERS + FC_LAYERS:
                    m = _half(module, model.tower_slice(name, t))
                elif isinstance(module, LocalResponseNorm):
                    # Window inside the tower: the grouped model's groups=2 on the half.
                    m = LocalResponseNorm(module.size, module.alpha, module.beta, module.k, groups=1)
                elif isinstance(module, nn.Dropout):
                    continue  # one shared mask, drawn in forward (see module docstring)
                else:
                    m = copy.deepcopy(module)
                current[t].append((name, m))
        segments.append(current)
        self.segments = nn.ModuleList(
            nn.ModuleList(nn.Sequential(OrderedDict(seg[t])).to(devices[t]) for t in range(2))
            for seg in segments)
        self.fc8 = copy.deepcopy(model.layer("fc8")).to(devices[0])
        # fc6 and fc7 segments end in dropout (AK 4.2).
        self._drop_after = [seg[0][0][0].startswith("fc") for seg in segments]

    def _both(self, halves, device) -> torch.Tensor:
        """Tower A's and B's activations side by side on ``device``: the crossing."""
        return torch.cat([h.to(device) for h in halves], dim=1)

    def _dropout(self, halves):
        if not self.training or self.dropout == 0:
            return halves
        a, b = halves  # (B, 2048) each
        # nn.Dropout on the whole (B, 4096) layer draws exactly this mask.
        mask = F.dropout(torch.ones(a.shape[0], a.shape[1] + b.shape[1], device=a.device,
                                    dtype=a.dtype), self.dropout, True)
        ma, mb = mask.split([a.shape[1], b.shape[1]], dim=1)
        return [a * ma, b * mb.to(b.device)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        halves = [x.to(d) for d in self.devices]  # both towers see the whole image
        for i, towers in enumerate(self.segments):
            if i > 0:  # the towers talk: each gets all of the previous layer
                halves = [self._both(halves, d) for d in self.devices]
            halves = [tower(h) for tower, h in zip(towers, halves)]
            if self._drop_after[i]:
                halves = self._dropout(halves)
        return self.fc8(self._both(halves, self.devices[0]))  # (B, classes) on devices[0]

    def to_grouped(self) -> AlexNet:
        """A single-device (CPU) AlexNet holding these weights in the grouped layout."""
        model = AlexNet(self.config)
        tower_layers = [{}, {}]
        for towers in self.segments:
            for t in range(2):
                tower_layers[t].update(towers[t].named_children())
        with torch.no_grad():
            for name in CONV_LAYERS + FC_LAYERS[:-1]:
                a, b = tower_layers[0][name], tower_layers[1][name]
                model.layer(name).weight.copy_(torch.cat([a.weight.cpu(), b.weight.cpu()]))
                model.layer(name).bias.copy_(torch.cat([a.bias.cpu(), b.bias.cpu()]))
            model.layer("fc8").load_state_dict({k: v.cpu() for k, v in self.fc8.state_dict().items()})
        return model.train(self.training)
