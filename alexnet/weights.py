"""The one weights registry: every model the app, evaluation, analyses and
benchmarks use is built and loaded here, so no caller remaps keys.

    python -m alexnet.weights list
    python -m alexnet.weights download imagenet     # needs internet, once

One ``Weights`` entry per set of weights (torchvision's ``WeightsEnum``):
the net it fits (``alexnet.registry``), its file or URL and checksum, its
classes, its ``Preprocessing`` (dataset, mean/std, input size) and what to
say when it is missing. ``load_model``, ``available`` and the app's model
list read the entries; ``register_weights`` adds one.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from . import preprocessing as prep
from .checkpoint import CheckpointError, check_finite, load_checkpoint
from .data import CIFAR10_CLASSES
from .configs import config_from_dict, net_from_config
from .model import AlexNet, AlexNetConfig
from .registry import build_model, models
from .torchvision_net import (TORCHVISION_CONFIG, TORCHVISION_KEYS, from_torchvision,  # noqa: F401
                              is_torchvision_alexnet, renamed as _renamed)

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"  # the shipped results
CIFAR10_FILE = PRETRAINED / "cifar10_alexnet.pt"
CIFAR10_MANIFEST = PRETRAINED / "cifar10_alexnet.json"
TORCHVISION_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's name; 7be5be79 = sha256 prefix
TORCHVISION_URL = "https://download.pytorch.org/models/" + TORCHVISION_FILE
# Set to a checkpoint path to use it as "cifar10" instead of the shipped file
# (tests, or trying a model you trained, in the app).
CIFAR10_OVERRIDE_ENV = "ALEXNET_CIFAR10_WEIGHTS"


class WeightsUnavailable(RuntimeError):
    """The weights are not on this machine and cannot be fetched now."""


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
    url: str | None = None  # where ``download=True`` fetches it from; None: shipped, never fetched
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
    model = _build(config, ckpt["model"], where)
    check_finite(ckpt["model"], where)
    return LoadedModel(name, model, classes, preprocessing or prep.FOR_VARIANT[config.variant],
                       {**info, "epoch": ckpt.get("epoch")})


def load_path(path, name: str | None = None, info: dict | None = None,
              entry: Weights | None = None) -> LoadedModel:
    """A train checkpoint or a torchvision-format AlexNet state dict, by path.

    With ``entry``, its preprocessing and classes apply; without, the file's own.
    """
    ckpt = load_checkpoint(path)
    name, info = name or Path(path).name, info or {"path": str(path)}
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


def cifar10_manifest(manifest=CIFAR10_MANIFEST) -> dict:
    return read_manifest(manifest)


def _fetch(w: Weights, path: Path) -> None:
    """Download only; the file is then loaded with weights_only=True like every other
    (``load_state_dict_from_url`` would unpickle it with weights_only=False)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(w.url, str(path), hash_prefix=w.sha256_prefix)
    except Exception as e:
        raise WeightsUnavailable(f"could not download {w.url} ({type(e).__name__}: {e}). "
                                 f"Copy {path.name} to {path} by hand.") from None


def load_weights(w: Weights, download: bool = False, file=None, manifest=None) -> LoadedModel:
    """The entry's weights, refused unless their checksum matches; fetched if allowed.

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
        if not (download and w.url):
            raise WeightsUnavailable(
                f"{path} is missing; restore pretrained/ from the repository" if not w.url else
                f"{w.title} weights are not on this machine. On a machine with internet run "
                f"`python -m alexnet.weights download {w.name}`, or copy {path.name} "
                f"({w.meta.get('size', '')}, from {w.url}) to {path}.")
        _fetch(w, path)
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
             "with internet, run `python -m alexnet.weights download imagenet` once "
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


def load_imagenet(download: bool = False) -> LoadedModel:
    """torchvision's ImageNet AlexNet, from the hub cache or (if allowed) the internet."""
    return load_weights(_WEIGHTS["imagenet"], download)


def load_model(name_or_path: str, download: bool = False) -> LoadedModel:
    """Load a registry entry (``cifar10``, ``imagenet``, ...) or a checkpoint file by path."""
    known = entries()
    if name_or_path in known:
        return load_weights(known[name_or_path], download)
    if Path(name_or_path).expanduser().exists():
        return load_path(Path(name_or_path).expanduser())
    raise CheckpointError(f"{name_or_path!r} is neither a registry entry "
                          f"({', '.join(known)}) nor an existing file")


def available() -> dict[str, bool]:
    """Which registry entries can be loaded right now, without a download."""
    return {name: w.path().is_file() for name, w in entries().items()}


def main(argv=None) -> None:
    import argparse

    p = argparse.ArgumentParser(prog="python -m alexnet.weights", description="the weights registry")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="the registry and what is on this machine")
    d = sub.add_parser("download", help="fetch weights that are not shipped")
    d.add_argument("name", choices=[n for n, w in entries().items() if w.url])
    a = p.parse_args(argv)
    if a.cmd == "list":
        ready = available()
        for name, w in entries().items():
            print(f"{name:10s} {'ready' if ready[name] else 'missing':8s} {w.description}")
    else:
        w = entries()[a.name]
        try:
            m = load_weights(w, download=True)
        except (WeightsUnavailable, CheckpointError) as e:
            sys.exit(str(e))
        print(f"ok: {w.file()} ({len(m.classes)} classes)")


if __name__ == "__main__":
    main()
