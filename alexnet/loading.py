"""Reading a weights file into a model: the formats the registry knows.

A checkpoint written by ``alexnet.train`` (``model``, ``model_config``,
``classes``), torchvision's AlexNet state dict (numbered keys), or the
state dict of a registered net named by a ``Weights`` entry. Every file is
read with ``weights_only=True`` and refused in one line when it is not what
it should be (``alexnet.checkpoint``). ``alexnet.weights`` holds the entries.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from . import preprocessing as prep
from .checkpoint import CheckpointError, check_finite, load_checkpoint, shipped_weights
from .configs import config_from_dict, net_from_config
from .model import AlexNet, AlexNetConfig
from .registry import build_model
from .torchvision_net import TORCHVISION_CONFIG, renamed as _renamed

if TYPE_CHECKING:
    from .weights import Weights


class WeightsUnavailable(RuntimeError):
    """The weights are not on this machine and cannot be fetched now."""


@dataclass
class LoadedModel:
    """A model in eval mode with what is needed to feed it and read its output."""

    name: str
    model: AlexNet
    classes: tuple[str, ...]
    preprocessing: prep.Preprocessing
    info: dict

    @property
    def mean(self) -> tuple[float, float, float]:
        return self.preprocessing.mean

    @property
    def std(self) -> tuple[float, float, float]:
        return self.preprocessing.std

    @property
    def input_size(self) -> int:
        return self.preprocessing.input_size

    @property
    def dataset(self) -> str:
        """Where the weights' training images came from ("cifar10", "imagenet")."""
        return self.preprocessing.dataset

    def preprocess_steps(self) -> list:
        """torchvision v2 transforms: PIL image -> (3, S, S) normalised tensor."""
        return self.preprocessing.steps()

    def preprocess(self, image) -> torch.Tensor:
        """A PIL image -> (1, 3, S, S) normalised tensor, as the weights were trained."""
        return self.preprocessing.transform(image)


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _build(config: AlexNetConfig | None, state: dict, where, make=None) -> AlexNet:
    """The net (``AlexNet(config)``, or ``make()``) holding ``state``, in eval mode."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{where} holds a {type(state).__name__} where its weights (a dict of "
                              "tensors) should be: it is not a model checkpoint this app can use")
    loose = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if loose:
        raise CheckpointError(f"{where} holds a {type(state[loose[0]]).__name__} under {loose[0]!r} "
                              "where a weight tensor should be: it is not a model checkpoint this "
                              "app can use")
    try:
        model = make() if make is not None else net_from_config(config)
    except (RuntimeError, MemoryError) as e:  # e.g. widths in model_config too big to allocate
        raise CheckpointError(f"{where} describes a network that cannot be built here "
                              f"({type(e).__name__}: {str(e)[:200]})") from None
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError as e:
        first = str(e).splitlines()[0:3]
        raise CheckpointError(f"{where} holds weights of a different architecture than "
                              f"the {type(model).__name__} it should be ({' '.join(first)})") from None
    return model.eval()


def _imagenet_classes() -> tuple[str, ...]:
    from torchvision.models import AlexNet_Weights

    return tuple(AlexNet_Weights.IMAGENET1K_V1.meta["categories"])


def _from_torchvision_state(state: dict, where, name: str, info: dict, preprocessing=None,
                            classes=None) -> LoadedModel:
    """torchvision's AlexNet state dict: its net, ImageNet's classes and preprocessing."""
    model = _build(TORCHVISION_CONFIG, _renamed(state, where), where)
    check_finite(state, where)  # under the file's own names
    classes = tuple(classes() if callable(classes) else classes or _imagenet_classes())
    return LoadedModel(name, model, classes, preprocessing or prep.IMAGENET, info)


def _from_train_checkpoint(ckpt: dict, where, name: str, info: dict, preprocessing=None) -> LoadedModel:
    """A checkpoint of ``alexnet.train``: fed as that command fed its variant (``FOR_VARIANT``)."""
    try:
        config = config_from_dict(ckpt["model_config"])
        classes = ckpt["classes"]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{where} is not a checkpoint written by alexnet.train ({e})") from None
    if not isinstance(classes, (list, tuple)) or not all(isinstance(c, str) for c in classes):
        raise CheckpointError(f"{where} has no list of class names (its 'classes' is a "
                              f"{type(classes).__name__}): use a checkpoint as alexnet.train wrote it")
    if len(classes) != config.num_classes:
        raise CheckpointError(f"{where} names {len(classes)} classes but its model predicts "
                              f"{config.num_classes}: the file was edited or mixed up; use a "
                              "checkpoint as alexnet.train wrote it")
    classes = tuple(classes)
    weights = shipped_weights(ckpt)
    model = _build(config, weights, where)
    check_finite(weights, where)
    return LoadedModel(name, model, classes, preprocessing or prep.FOR_VARIANT[config.variant],
                       {**info, "epoch": ckpt.get("epoch"), "averaged_epochs": ckpt.get("averaged")})


def load_path(path, name: str | None = None, info: dict | None = None,
              entry: Weights | None = None) -> LoadedModel:
    """A train checkpoint or a torchvision-format AlexNet state dict, by path.

    With ``entry``, its preprocessing and classes apply; without, the file's own.
    """
    ckpt = load_checkpoint(path)
    name, info = name or Path(path).name, info or {"path": str(path)}
    reference = info.get("unsure", {}).get("reference")
    if reference is not None:  # the unsure score's file lies beside the weights
        info = {**info, "unsure": {**info["unsure"], "reference": {
            **reference, "path": str(Path(path).parent / reference["file"])}}}
    preprocessing = entry.preprocessing if entry is not None else None
    if "model" in ckpt and "model_config" in ckpt:
        return _from_train_checkpoint(ckpt, path, name, info, preprocessing)
    if "features.0.weight" in ckpt:
        return _from_torchvision_state(ckpt, path, name, info, preprocessing,
                                       entry.classes if entry is not None else None)
    if entry is not None and entry.classes is not None:  # the registered net's own state dict
        model = _build(None, ckpt, path, lambda: build_model(entry.model, **entry.model_kwargs))
        classes = entry.classes() if callable(entry.classes) else entry.classes
        return LoadedModel(name, model, tuple(classes), preprocessing, info)
    raise CheckpointError(f"{path} is neither a checkpoint written by alexnet.train nor a "
                          "torchvision AlexNet state dict")


def read_manifest(manifest, what: str = "the shipped cifar10 model") -> dict:
    """A shipped file's manifest (JSON with "file" and "sha256"), else a clear error."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise WeightsUnavailable(f"{what}'s manifest {manifest} is missing; "
                                 "restore pretrained/ from the repository")
    try:
        info = json.loads(manifest.read_text())
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CheckpointError(f"{what}'s manifest {manifest} cannot be read "
                              f"({e}); restore pretrained/ from the repository") from None
    missing = [k for k in ("file", "sha256") if not isinstance(info, dict) or
               not isinstance(info.get(k), str)]
    if missing:
        raise CheckpointError(f"{what}'s manifest {manifest} is damaged (no "
                              f"{' or '.join(missing)} entry); restore pretrained/ from the repository")
    return info
