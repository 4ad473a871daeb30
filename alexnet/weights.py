"""The one weights registry: every model the app, evaluation, analyses and
benchmarks use is built and loaded here, so no caller remaps keys.

    python -m alexnet.weights list                  # the entries, and which are on this machine
    bash run.sh download imagenet-weights           # fetches torchvision's (alexnet.download)

One ``Weights`` entry per set of weights (torchvision's ``WeightsEnum``):
the net it fits (``alexnet.registry``), its file or URL and checksum, its
classes, its ``Preprocessing`` (dataset, mean/std, input size) and what to
say when it is missing. ``load_model``, ``available`` and the app's model
list read the entries; ``register_weights`` adds one.

- ``cifar10``: the two-tower CIFAR-10 AlexNet this project trained and ships
  in ``pretrained/``, checked against the sha256 in its manifest.
- ``imagenet``: torchvision's ``AlexNet_Weights.IMAGENET1K_V1`` (the
  single-tower "one weird trick" net), from the torch hub cache, where
  ``alexnet.download`` (the app's button, ``bash run.sh download
  imagenet-weights``) puts it.
- any path: a checkpoint written by ``alexnet.train``, or a torchvision-format
  AlexNet state dict.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from . import preprocessing as prep
from .checkpoint import CheckpointError
from .data import CIFAR10_CLASSES
from .loading import (LoadedModel, WeightsUnavailable, _imagenet_classes, load_path,  # noqa: F401
                      read_manifest, sha256)
from .registry import models
from .torchvision_net import (TORCHVISION_CONFIG, TORCHVISION_KEYS, from_torchvision,  # noqa: F401
                              is_torchvision_alexnet)

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"  # the shipped results
CIFAR10_FILE = PRETRAINED / "cifar10_alexnet.pt"
CIFAR10_MANIFEST = PRETRAINED / "cifar10_alexnet.json"
TORCHVISION_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's name; 7be5be79 = sha256 prefix
TORCHVISION_URL = "https://download.pytorch.org/models/" + TORCHVISION_FILE
# Set to a checkpoint path to use it as "cifar10" instead of the shipped file
# (tests, or trying a model you trained, in the app).
CIFAR10_OVERRIDE_ENV = "ALEXNET_CIFAR10_WEIGHTS"


@dataclass(frozen=True)
class Weights:
    """One set of weights: where it lies, how to check it, and how to feed it."""

    name: str  # the registry key: ``load_model(name)``
    title: str  # the app's model list
    description: str  # ``python -m alexnet.weights list``
    model: str  # the registered net it fits (``alexnet.registry``)
    preprocessing: prep.Preprocessing
    file: Callable[[], Path]  # where the file lies on this machine
    missing: str  # what the app says when the file is not here (Markdown; ``{path}`` is filled in)
    url: str | None = None  # where ``alexnet.download`` fetches it from; None: shipped, never fetched
    sha256_prefix: str | None = None  # the checksum, when it is known in advance
    manifest: Path | None = None  # a JSON file holding "file" and the full "sha256" instead
    classes: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None  # None: the checkpoint's
    override_env: str | None = None  # an environment variable naming a checkpoint to use instead
    model_kwargs: dict = field(default_factory=dict)  # for ``build_model(model, **model_kwargs)``
    meta: dict = field(default_factory=dict)  # published scores, source

    def path(self) -> Path:
        """The file this entry loads: the override, if set, else ``file()``."""
        override = os.environ.get(self.override_env) if self.override_env else None
        return Path(override).expanduser() if override else self.file()

    @property
    def download_command(self) -> str:
        """The command that fetches these weights (``alexnet.download``), as a user types it."""
        return f"bash run.sh download {self.name}-weights"

    def missing_note(self) -> str:
        return self.missing.format(path=self.file())


_WEIGHTS: dict[str, Weights] = {}


def register_weights(w: Weights) -> Weights:
    """Add an entry (one per set of weights); its ``model`` must be a registered net."""
    if w.name in _WEIGHTS and _WEIGHTS[w.name] != w:
        raise ValueError(f"weights named {w.name!r} are already registered")
    _WEIGHTS[w.name] = w
    return w


def entries() -> dict[str, Weights]:
    """Every registered set of weights, in registration order."""
    models()  # net files may register their weights too
    return dict(_WEIGHTS)


def cifar10_manifest(manifest=CIFAR10_MANIFEST) -> dict:
    return read_manifest(manifest)


def load_weights(w: Weights, file=None, manifest=None) -> LoadedModel:
    """The entry's weights, refused unless their checksum matches (never downloaded here:
    ``alexnet.download`` fetches, then the file is loaded with weights_only=True like any other).

    ``file``/``manifest`` replace the entry's own (tests, an export's output).
    With the entry's ``override_env`` set, that checkpoint is loaded instead (unchecked).
    """
    override = os.environ.get(w.override_env) if w.override_env else None
    if override and file is None:
        return _load_override(w, Path(override).expanduser())
    path = Path(file) if file is not None else w.file()
    manifest = manifest if manifest is not None else w.manifest
    info = read_manifest(manifest, f"the shipped {w.name} model") if manifest else dict(w.meta)
    if not path.is_file():
        raise WeightsUnavailable(
            f"{path} is missing; restore pretrained/ from the repository" if not w.url else
            f"{w.title} weights are not on this machine. On a machine with internet run "
            f"`{w.download_command}`, or copy {path.name} "
            f"({w.meta.get('size', '')}, from {w.url}) to {path}.")
    if manifest and sha256(path) != info["sha256"]:
        raise CheckpointError(f"{path} does not match the sha256 in its manifest: the file "
                              "is damaged or was replaced. Restore it from the repository.")
    if w.sha256_prefix and not sha256(path).startswith(w.sha256_prefix):
        raise CheckpointError(f"{path} does not match its published checksum: delete it and "
                              "download again")
    return load_path(path, w.name, info, w)


def imagenet_cache_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE


# ---- the entries ----------------------------------------------------------
register_weights(Weights(
    name="cifar10", title="CIFAR-10 AlexNet (shipped, two towers)",
    description="the two-tower CIFAR-10 AlexNet trained by this project (shipped, offline)",
    model="alexnet_cifar", preprocessing=prep.CIFAR10, file=lambda: CIFAR10_FILE,
    manifest=CIFAR10_MANIFEST, override_env=CIFAR10_OVERRIDE_ENV, classes=CIFAR10_CLASSES,
    missing=("The shipped CIFAR-10 model (`pretrained/cifar10_alexnet.pt`) is not on this "
             "machine. Restore `pretrained/` from the repository, or point the app at a "
             "checkpoint written by `python -m alexnet.train` with "
             f"`{CIFAR10_OVERRIDE_ENV}=path/to/checkpoint.pt`.")))
register_weights(Weights(
    name="imagenet", title="ImageNet AlexNet (torchvision)",
    description="torchvision's ImageNet AlexNet (IMAGENET1K_V1; cached or downloaded)",
    model="alexnet_torchvision", preprocessing=prep.IMAGENET, file=imagenet_cache_path,
    url=TORCHVISION_URL, sha256_prefix=TORCHVISION_FILE.split("-")[-1].split(".")[0],
    classes=_imagenet_classes,
    missing=("torchvision's ImageNet AlexNet weights are not on this machine. On a machine "
             "with internet, run `bash run.sh download imagenet-weights` once "
             "(233 MB, saved to `{path}`), then reload."),
    meta={"source": "torchvision AlexNet_Weights.IMAGENET1K_V1", "acc@1": 56.522, "acc@5": 79.066,
          "size": "233 MB"}))
REGISTRY = _WEIGHTS  # the earlier name: name -> entry


def _load_override(w: Weights, path: Path) -> LoadedModel:
    """The checkpoint ``w.override_env`` names, checked like any other file and refused
    unless it can stand in for the entry's net: the same input size, the entry's classes
    in order (the app pairs e.g. the "cifar10" model with CIFAR-10 images and their labels)."""
    where = f"{w.override_env}={path}"
    try:
        loaded = load_path(path, w.name, {"path": str(path), "set by": w.override_env})
    except CheckpointError as e:
        raise CheckpointError(f"{where} cannot be used: {e}") from None
    want = tuple(w.classes() if callable(w.classes) else w.classes or loaded.classes)
    size = w.preprocessing.input_size
    if loaded.input_size != size or loaded.classes != want:
        s = loaded.input_size
        raise CheckpointError(
            f"{where} cannot stand in for the {w.title}: its net takes {s}x{s} images and "
            f"predicts {len(loaded.classes)} classes ({', '.join(loaded.classes[:4])}"
            f"{', ...' if len(loaded.classes) > 4 else ''}); it must take {size}x{size} images and "
            f"predict its {len(want)} classes in order ({', '.join(want[:10])}"
            f"{', ...' if len(want) > 10 else ''}). Point {w.override_env} at such a checkpoint, or unset it")
    return loaded


def load_cifar10(file=CIFAR10_FILE, manifest=CIFAR10_MANIFEST) -> LoadedModel:
    """The shipped CIFAR-10 AlexNet, refused unless its sha256 matches the manifest.

    With ``ALEXNET_CIFAR10_WEIGHTS`` set, that checkpoint is loaded instead (no manifest).
    """
    return load_weights(_WEIGHTS["cifar10"], file=None if Path(file) == CIFAR10_FILE else file,
                        manifest=manifest)


def load_imagenet() -> LoadedModel:
    """torchvision's ImageNet AlexNet, from the hub cache (``bash run.sh download imagenet-weights``)."""
    return load_weights(_WEIGHTS["imagenet"])


def load_model(name_or_path: str) -> LoadedModel:
    """Load a registry entry (``cifar10``, ``imagenet``, ...) or a checkpoint file by path."""
    known = entries()
    if name_or_path in known:
        return load_weights(known[name_or_path])
    if Path(name_or_path).expanduser().exists():
        return load_path(Path(name_or_path).expanduser())
    raise CheckpointError(f"{name_or_path!r} is neither a registry entry "
                          f"({', '.join(known)}) nor an existing file")


def available() -> dict[str, bool]:
    """Which registry entries can be loaded right now, without a download."""
    return {name: w.path().is_file() for name, w in entries().items()}


def main(argv=None) -> None:
    import argparse

    p = argparse.ArgumentParser(prog="python -m alexnet.weights", description="the weights registry "
                                "(downloads: bash run.sh download imagenet-weights)")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="the registry and what is on this machine")
    p.parse_args(argv)
    ready = available()
    for name, w in entries().items():
        print(f"{name:10s} {'ready' if ready[name] else 'missing':8s} {w.description}"
              + ("" if ready[name] or not w.url else f" (get it: {w.download_command})"))


if __name__ == "__main__":
    main()
