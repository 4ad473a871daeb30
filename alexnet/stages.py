"""The one surface every net offers the analyses, the app and the tools.

A net is any ``nn.Module`` with named stages: ``features`` (an
``nn.Sequential`` of stages whose outputs are spatial maps) and, optionally,
``classifier`` (the stages after them). Stage names are the net's own
(``conv1``, ``act1``, ``lrn1``, ``pool1``, ..., ``fc8`` for AlexNet). The
functions here work on any such module; ``StagedNet`` is a base class whose
methods are the same functions, so ``model.layer("conv1")`` and
``layer(model, "conv1")`` are one thing.

What a net *means* is data, ``Roles``: which stage is its first conv, ZF's
"layer 1", its last conv map, its penultimate (fc7-like) layer and its
logits, and how many towers it has (AK 3.2) and where they talk. Analyses
default to these roles and never name a particular net's layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Roles:
    """Which named stage plays which part, for the analyses' defaults."""

    first_conv: str  # its kernels are drawn and scored for colour (AK Fig. 3)
    first_block: str  # ZF "layer 1": conv -> act -> (LRN) -> pool (ZF Fig. 5)
    last_conv: str  # ZF "layer 5": the last conv maps after their non-linearity (ZF Fig. 7)
    penultimate: str  # the last hidden layer, fc7 after its ReLU in AlexNet (AK Fig. 4)
    logits: str  # the class scores, before softmax
    towers: int = 1  # AK 3.2: output channels split evenly, tower A first (see tower_slice)
    crossings: tuple[str, ...] = ()  # stages whose input comes from every tower

    def as_dict(self) -> dict:
        return {"first_conv": self.first_conv, "first_block": self.first_block,
                "last_conv": self.last_conv, "penultimate": self.penultimate, "logits": self.logits}


def roles(model: nn.Module) -> Roles:
    """The ``Roles`` a net declares (its ``roles`` attribute), else a TypeError saying so."""
    r = getattr(model, "roles", None)
    if not isinstance(r, Roles):
        raise TypeError(f"{type(model).__name__} declares no roles (alexnet.stages.Roles): name the "
                        "layer to use explicitly, or give the net a `roles` attribute")
    return r


def role(model: nn.Module, name: str, given: str | None = None) -> str:
    """``given`` if not None, else the stage playing role ``name`` in ``model``."""
    return given if given is not None else getattr(roles(model), name)


def stages(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every named stage, input to output: ``features`` then ``classifier``."""
    out = list(model.features.named_children())
    if hasattr(model, "classifier"):
        out += list(model.classifier.named_children())
    return out


def layer_names(model: nn.Module) -> tuple[str, ...]:
    """Every stage's name, input to output."""
    return tuple(name for name, _ in stages(model))


def feature_layers(model: nn.Module) -> tuple[str, ...]:
    """The stages whose outputs are spatial maps (``features``)."""
    return tuple(name for name, _ in model.features.named_children())


def rectified_maps(model: nn.Module) -> tuple[str, ...]:
    """The spatial stages that are a non-linearity (``act1`` .. ``act5`` in AlexNet):
    the rectified maps ZF project (ZF 2.1, Fig. 2 and 4)."""
    return tuple(name for name, m in model.features.named_children() if isinstance(m, (nn.ReLU, nn.Tanh)))


def check_layer(model: nn.Module, name: str, allowed=None) -> str:
    """``name`` if it is a stage of ``model`` (and in ``allowed``), else a KeyError listing the choices."""
    choices = tuple(allowed) if allowed is not None else layer_names(model)
    if not isinstance(name, str) or name not in choices:
        raise KeyError(f"no layer named {name!r}; choose from {', '.join(choices)}")
    return name


def layer(model: nn.Module, name: str) -> nn.Module:
    """The module of a named stage."""
    check_layer(model, name)
    return dict(stages(model))[name]


def forward_until(model: nn.Module, x: torch.Tensor, name: str) -> torch.Tensor:
    """Run the stages from the image up to and including ``name``."""
    check_layer(model, name)
    for n, m in stages(model):
        x = m(x)
        if n == name:
            return x
    raise AssertionError("unreachable")


def run_from(model: nn.Module, name: str, x: torch.Tensor) -> torch.Tensor:
    """Run the stages *after* ``name`` on ``x``, the output of ``name``: the rest of the net."""
    check_layer(model, name)
    named = stages(model)
    for _, m in named[[n for n, _ in named].index(name) + 1:]:
        x = m(x)
    return x


def activations(model: nn.Module, x: torch.Tensor, names) -> dict[str, torch.Tensor]:
    """Outputs of the named stages in one forward pass (it stops at the deepest)."""
    wanted = {names} if isinstance(names, str) else set(names)
    for n in wanted:
        check_layer(model, n)
    out = {}
    for n, m in stages(model):
        x = m(x)
        if n in wanted:
            out[n] = x
            if len(out) == len(wanted):
                break
    return out


def num_channels(model: nn.Module, name: str) -> int:
    """Channels (conv) or units (fc) in the output of stage ``name``."""
    check_layer(model, name)
    named, count = stages(model), None
    for i, (n, m) in enumerate(named):
        if isinstance(m, nn.Conv2d):
            count = m.out_channels
        elif isinstance(m, nn.Linear):
            count = m.out_features
        elif isinstance(m, nn.Flatten):  # its width is the next linear layer's input
            count = next(k.in_features for _, k in named[i:] if isinstance(k, nn.Linear))
        if n == name:
            return count
    raise AssertionError("unreachable")


def tower_slice(model: nn.Module, name: str, tower: int) -> slice:
    """The output channels of stage ``name`` that belong to ``tower`` (0 = A, 1 = B).

    A stage without weights (``act1``, ``lrn2``, ``pool5``) has the channels
    of the last weighted stage before it.
    """
    n = num_channels(model, name)
    towers = getattr(getattr(model, "roles", None), "towers", 1)
    if not isinstance(tower, int) or not 0 <= tower < towers:
        raise ValueError(f"tower must be in [0, {towers}), got {tower}")
    per = n // towers
    return slice(tower * per, (tower + 1) * per)


def pair(v) -> tuple[int, int]:
    """An int or a pair as (rows, cols)."""
    return (v, v) if isinstance(v, int) else tuple(v)


def stage_geometry(module: nn.Module) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(kernel, stride, padding) of a stage as (rows, cols) pairs; (1, 1, 0) for pointwise stages.

    A dilated kernel counts with its effective extent ``d * (k - 1) + 1``.
    """
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        dil = pair(getattr(module, "dilation", 1))
        k = tuple(d * (kk - 1) + 1 for kk, d in zip(pair(module.kernel_size), dil))
        return k, pair(module.stride), pair(module.padding)
    return (1, 1), (1, 1), (0, 0)


def geometry(model: nn.Module) -> dict[str, tuple]:
    """``stage_geometry`` of every spatial stage, by name (for receptive fields)."""
    return {name: stage_geometry(m) for name, m in model.features.named_children()}


class StagedNet(nn.Module):
    """Base for the project's nets: subclasses build ``features`` (and ``classifier``)
    as named ``nn.Sequential``s and set ``roles``; these methods are the surface."""

    roles: Roles

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Every named stage, input to output."""
        return layer_names(self)

    def layer(self, name: str) -> nn.Module:
        """The module of a named stage (``conv1``, ``act3``, ``fc7``, ...)."""
        return layer(self, name)

    def forward_until(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """Run the net from the image up to and including stage ``name``."""
        return forward_until(self, x, name)

    def run_from(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Run the stages after ``name`` on its output ``x``."""
        return run_from(self, name, x)

    def activations(self, x: torch.Tensor, names) -> dict[str, torch.Tensor]:
        """Outputs of the named stages in one forward pass (stops at the deepest)."""
        return activations(self, x, names)

    def tower_slice(self, name: str, tower: int) -> slice:
        """The output channels of stage ``name`` that belong to ``tower``."""
        return tower_slice(self, name, tower)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x) if hasattr(self, "classifier") else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.features(x))
