"""The one weights registry: every model the app, evaluation, analyses and
benchmarks use is built and loaded here, so no caller remaps keys.

    python -m alexnet.weights list
    python -m alexnet.weights download imagenet     # needs internet, once

Entries:
- ``cifar10``: the two-tower CIFAR-10 AlexNet this project trained and ships
  in ``pretrained/``, checked against the sha256 in its manifest.
- ``imagenet``: torchvision's ``AlexNet_Weights.IMAGENET1K_V1`` (the
  single-tower "one weird trick" net), from the torch hub cache, or
  downloaded when the machine is online and ``download=True``.
- any path: a checkpoint written by ``alexnet.train``, or a torchvision-format
  AlexNet state dict.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import CheckpointError, check_finite, load_checkpoint
from .data import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD
from .model import AlexNet, AlexNetConfig

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"
CIFAR10_FILE = PRETRAINED / "cifar10_alexnet.pt"
CIFAR10_MANIFEST = PRETRAINED / "cifar10_alexnet.json"
TORCHVISION_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's name; 7be5be79 = sha256 prefix
TORCHVISION_URL = "https://download.pytorch.org/models/" + TORCHVISION_FILE
# torchvision's Sequential indices -> this project's layer names.
TORCHVISION_KEYS = {"features.0": "features.conv1", "features.3": "features.conv2",
                    "features.6": "features.conv3", "features.8": "features.conv4",
                    "features.10": "features.conv5", "classifier.1": "classifier.fc6",
                    "classifier.4": "classifier.fc7", "classifier.6": "classifier.fc8"}
TORCHVISION_CONFIG = AlexNetConfig(variant="torchvision", towers=1, lrn=False)
# Set to a checkpoint path to use it as "cifar10" instead of the shipped file
# (tests, or trying a model you trained, in the app).
CIFAR10_OVERRIDE_ENV = "ALEXNET_CIFAR10_WEIGHTS"


class WeightsUnavailable(RuntimeError):
    """The weights are not on this machine and cannot be fetched now."""


@dataclass
class LoadedModel:
    """A model in eval mode with what is needed to feed it and read its output."""

    name: str
    model: AlexNet
    classes: tuple[str, ...]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_size: int
    info: dict

    def preprocess_steps(self) -> list:
        """torchvision v2 transforms: PIL image -> (3, S, S) normalised tensor."""
        from torchvision.transforms import v2 as T

        s = self.input_size
        steps = [T.Resize(s), T.CenterCrop(s)] if s == 32 else [T.Resize(256), T.CenterCrop(s)]
        return [T.ToImage(), *steps, T.ToDtype(torch.float32, scale=True), T.Normalize(self.mean, self.std)]

    def preprocess(self, image) -> torch.Tensor:
        """A PIL image -> (1, 3, S, S) normalised tensor, as the weights were trained."""
        from torchvision.transforms import v2 as T

        return T.Compose(self.preprocess_steps())(image.convert("RGB"))[None]


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _build(config: AlexNetConfig, state: dict, where) -> AlexNet:
    if not isinstance(state, dict):
        raise CheckpointError(f"{where} holds a {type(state).__name__} where its weights (a dict of "
                              "tensors) should be: it is not a model checkpoint this app can use")
    loose = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if loose:
        raise CheckpointError(f"{where} holds a {type(state[loose[0]]).__name__} under {loose[0]!r} "
                              "where a weight tensor should be: it is not a model checkpoint this "
                              "app can use")
    try:
        model = AlexNet(config)
    except (RuntimeError, MemoryError) as e:  # e.g. widths in model_config too big to allocate
        raise CheckpointError(f"{where} describes a network that cannot be built here "
                              f"({type(e).__name__}: {str(e)[:200]})") from None
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError as e:
        first = str(e).splitlines()[0:3]
        raise CheckpointError(f"{where} holds weights of a different architecture than "
                              f"the AlexNet it should be ({' '.join(first)})") from None
    return model.eval()


def _renamed(state: dict, where) -> dict:
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
    if not is_torchvision_alexnet(model):
        raise TypeError(f"expected a torchvision.models.AlexNet, got {type(model).__name__}")
    config = TORCHVISION_CONFIG.replace(num_classes=model.classifier[-1].out_features)
    with torch.device("meta"):  # no memory and no init: the parameters are assigned below
        ours = AlexNet(config)
    ours.load_state_dict(_renamed(model.state_dict(keep_vars=True), "this torchvision AlexNet"),
                         assign=True)
    return ours.train(model.training)


def _from_torchvision_state(state: dict, where, name: str, info: dict) -> LoadedModel:
    from torchvision.models import AlexNet_Weights

    model = _build(TORCHVISION_CONFIG, _renamed(state, where), where)
    check_finite(state, where)  # under the file's own names
    classes = tuple(AlexNet_Weights.IMAGENET1K_V1.meta["categories"])
    return LoadedModel(name, model, classes, IMAGENET_MEAN, IMAGENET_STD, 224, info)


def _from_train_checkpoint(ckpt: dict, where, name: str, info: dict) -> LoadedModel:
    try:
        config = AlexNetConfig.from_dict(ckpt["model_config"])
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
    model = _build(config, ckpt["model"], where)
    check_finite(ckpt["model"], where)
    cifar = config.variant == "cifar"
    mean, std = (CIFAR10_MEAN, CIFAR10_STD) if cifar else (IMAGENET_MEAN, IMAGENET_STD)
    return LoadedModel(name, model, classes, mean, std, config.input_size,
                       {**info, "epoch": ckpt.get("epoch")})


def load_path(path, name: str | None = None, info: dict | None = None) -> LoadedModel:
    """A train checkpoint or a torchvision-format AlexNet state dict, by path."""
    ckpt = load_checkpoint(path)
    name, info = name or Path(path).name, info or {"path": str(path)}
    if "model" in ckpt and "model_config" in ckpt:
        return _from_train_checkpoint(ckpt, path, name, info)
    if "features.0.weight" in ckpt:
        return _from_torchvision_state(ckpt, path, name, info)
    raise CheckpointError(f"{path} is neither a checkpoint written by alexnet.train nor a "
                          "torchvision AlexNet state dict")


def cifar10_manifest(manifest=CIFAR10_MANIFEST) -> dict:
    manifest = Path(manifest)
    if not manifest.is_file():
        raise WeightsUnavailable(f"the shipped CIFAR-10 model's manifest {manifest} is missing; "
                                 "restore pretrained/ from the repository")
    try:
        info = json.loads(manifest.read_text())
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CheckpointError(f"the shipped CIFAR-10 model's manifest {manifest} cannot be read "
                              f"({e}); restore pretrained/ from the repository") from None
    missing = [k for k in ("file", "sha256") if not isinstance(info, dict) or
               not isinstance(info.get(k), str)]
    if missing:
        raise CheckpointError(f"the shipped CIFAR-10 model's manifest {manifest} is damaged (no "
                              f"{' or '.join(missing)} entry); restore pretrained/ from the repository")
    return info


def _cifar10_override() -> Path | None:
    value = os.environ.get(CIFAR10_OVERRIDE_ENV)
    return Path(value).expanduser() if value else None


def _load_override(path: Path) -> LoadedModel:
    """The checkpoint ``ALEXNET_CIFAR10_WEIGHTS`` names, checked like any other file and
    refused unless it can stand in for the shipped net: 32x32 inputs, CIFAR-10's classes in
    order (the app pairs the "cifar10" model with CIFAR-10 images and their labels)."""
    where = f"{CIFAR10_OVERRIDE_ENV}={path}"
    try:
        loaded = load_path(path, "cifar10", {"path": str(path), "set by": CIFAR10_OVERRIDE_ENV})
    except CheckpointError as e:
        raise CheckpointError(f"{where} cannot be used: {e}") from None
    if loaded.input_size != 32 or loaded.classes != CIFAR10_CLASSES:
        s = loaded.input_size
        raise CheckpointError(
            f"{where} cannot stand in for the CIFAR-10 model: its net takes {s}x{s} images and "
            f"predicts {len(loaded.classes)} classes ({', '.join(loaded.classes[:4])}"
            f"{', ...' if len(loaded.classes) > 4 else ''}); it must take 32x32 images and predict "
            f"CIFAR-10's {len(CIFAR10_CLASSES)} classes in order ({', '.join(CIFAR10_CLASSES)}). "
            f"Point {CIFAR10_OVERRIDE_ENV} at such a checkpoint, or unset it")
    return loaded


def load_cifar10(file=CIFAR10_FILE, manifest=CIFAR10_MANIFEST) -> LoadedModel:
    """The shipped CIFAR-10 AlexNet, refused unless its sha256 matches the manifest.

    With ``ALEXNET_CIFAR10_WEIGHTS`` set, that checkpoint is loaded instead (no manifest).
    """
    override = _cifar10_override()
    if override is not None and file == CIFAR10_FILE:
        return _load_override(override)
    info = cifar10_manifest(manifest)
    file = Path(file)
    if not file.is_file():
        raise WeightsUnavailable(f"{file} is missing; restore pretrained/ from the repository")
    if sha256(file) != info["sha256"]:
        raise CheckpointError(f"{file} does not match the sha256 in its manifest: the file "
                              "is damaged or was replaced. Restore it from the repository.")
    return load_path(file, "cifar10", info)


def imagenet_cache_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE


def load_imagenet(download: bool = False) -> LoadedModel:
    """torchvision's ImageNet AlexNet, from the hub cache or (if allowed) the internet."""
    path = imagenet_cache_path()
    prefix = TORCHVISION_FILE.split("-")[-1].split(".")[0]  # of the sha256
    if not path.is_file():
        if not download:
            raise WeightsUnavailable(
                f"torchvision's ImageNet AlexNet weights are not on this machine. On a machine "
                f"with internet run `bash run.sh download imagenet-weights`, or copy "
                f"{TORCHVISION_FILE} (233 MB, from {TORCHVISION_URL}) to {path}.")
        # Download only, then load below with weights_only=True like every other file
        # (load_state_dict_from_url would unpickle it with weights_only=False).
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(TORCHVISION_URL, str(path), hash_prefix=prefix)
        except Exception as e:
            raise WeightsUnavailable(f"could not download {TORCHVISION_URL} ({type(e).__name__}: {e}). "
                                     f"Copy {TORCHVISION_FILE} to {path} by hand.") from None
    if not sha256(path).startswith(prefix):
        raise CheckpointError(f"{path} does not match torchvision's checksum: delete it and download again")
    return load_path(path, "imagenet", {"source": "torchvision AlexNet_Weights.IMAGENET1K_V1",
                                        "acc@1": 56.522, "acc@5": 79.066})


REGISTRY = {
    "cifar10": "the two-tower CIFAR-10 AlexNet trained by this project (shipped, offline)",
    "imagenet": "torchvision's ImageNet AlexNet (IMAGENET1K_V1; cached or downloaded)",
}


def load_model(name_or_path: str, download: bool = False) -> LoadedModel:
    """Load a registry entry (``cifar10``, ``imagenet``) or a checkpoint file by path."""
    if name_or_path == "cifar10":
        return load_cifar10()
    if name_or_path == "imagenet":
        return load_imagenet(download)
    if Path(name_or_path).expanduser().exists():
        return load_path(Path(name_or_path).expanduser())
    raise CheckpointError(f"{name_or_path!r} is neither a registry entry "
                          f"({', '.join(REGISTRY)}) nor an existing file")


def available() -> dict[str, bool]:
    """Which registry entries can be loaded right now, without a download."""
    override = _cifar10_override()
    cifar10 = override.is_file() if override is not None else CIFAR10_FILE.is_file()
    return {"cifar10": cifar10, "imagenet": imagenet_cache_path().is_file()}


def main(argv=None) -> None:
    import argparse

    p = argparse.ArgumentParser(prog="python -m alexnet.weights", description="the weights registry")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="the registry and what is on this machine")
    d = sub.add_parser("download", help="fetch weights that are not shipped")
    d.add_argument("name", choices=["imagenet"])
    a = p.parse_args(argv)
    if a.cmd == "list":
        for name, desc in REGISTRY.items():
            print(f"{name:10s} {'ready' if available()[name] else 'missing':8s} {desc}")
    else:
        try:
            m = load_imagenet(download=True)
        except (WeightsUnavailable, CheckpointError) as e:
            sys.exit(str(e))
        print(f"ok: {imagenet_cache_path()} ({len(m.classes)} classes)")


if __name__ == "__main__":
    main()
