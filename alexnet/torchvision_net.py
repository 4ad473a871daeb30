"""torchvision's own ``AlexNet`` module under this project's layer names.

Analyses walk named stages (``alexnet.stages``); torchvision's AlexNet has
numbered ``Sequential`` indices. ``from_torchvision`` shares its parameters
(nothing is copied) into an ``AlexNet`` of the "torchvision" variant, and
``as_staged`` lets every analysis take either.
"""

from __future__ import annotations

from torch import nn

from .checkpoint import CheckpointError
from .model import AlexNet, AlexNetConfig

# torchvision's Sequential indices -> this project's layer names.
TORCHVISION_KEYS = {"features.0": "features.conv1", "features.3": "features.conv2",
                    "features.6": "features.conv3", "features.8": "features.conv4",
                    "features.10": "features.conv5", "classifier.1": "classifier.fc6",
                    "classifier.4": "classifier.fc7", "classifier.6": "classifier.fc8"}
TORCHVISION_CONFIG = AlexNetConfig(variant="torchvision", towers=1, lrn=False)


def renamed(state: dict, where) -> dict:
    """A torchvision AlexNet state dict under this project's layer names."""
    ours = {}
    for k, v in state.items():
        prefix, _, leaf = k.rpartition(".")
        if prefix not in TORCHVISION_KEYS:
            raise CheckpointError(f"{where} has a key {k!r} that torchvision's AlexNet does not have")
        ours[f"{TORCHVISION_KEYS[prefix]}.{leaf}"] = v
    return ours


def is_torchvision_alexnet(model) -> bool:
    """Whether ``model`` is a ``torchvision.models.AlexNet`` (without importing torchvision)."""
    cls = type(model)
    return cls.__name__ == "AlexNet" and cls.__module__.startswith("torchvision.models")


def from_torchvision(model) -> AlexNet:
    """torchvision's ``AlexNet`` module as this project's AlexNet with named layers.

    The result holds the very same parameter tensors (nothing is copied, so
    no weight changes) and the same train/eval mode; it computes the same
    outputs. The analyses call this on a torchvision model they are given.
    """
    import torch

    if not is_torchvision_alexnet(model):
        raise TypeError(f"expected a torchvision.models.AlexNet, got {type(model).__name__}")
    config = TORCHVISION_CONFIG.replace(num_classes=model.classifier[-1].out_features)
    with torch.device("meta"):  # no memory and no init: the parameters are assigned below
        ours = AlexNet(config)
    ours.load_state_dict(renamed(model.state_dict(keep_vars=True), "this torchvision AlexNet"),
                         assign=True)
    return ours.train(model.training)


def as_staged(model: nn.Module) -> nn.Module:
    """``model`` itself if it has named stages (``features``), torchvision's AlexNet
    converted by ``from_torchvision``, else a TypeError saying what is needed."""
    if is_torchvision_alexnet(model):
        return from_torchvision(model)
    if not isinstance(getattr(model, "features", None), nn.Sequential):
        raise TypeError(f"{type(model).__name__} has no named stages: the analyses need a net "
                        "with a `features` nn.Sequential of named stages (and optionally "
                        "`classifier`), as alexnet.stages.StagedNet builds")
    return model
