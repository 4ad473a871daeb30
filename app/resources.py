"""Everything slow sits behind Streamlit's caches: models, datasets, predictions.

Models are loaded only through ``alexnet.weights.load_model`` and once per
server (``cache_resource``); results of pure functions are cached per input
(``cache_data``), so no widget change reloads a model or rescans a dataset.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from alexnet import weights
from alexnet.checkpoint import CheckpointError
from alexnet.data import DATA_ENV, default_data_dir  # noqa: F401  (DATA_ENV: pages name it)
from alexnet.images import ImageError, load_image
from alexnet.predict import Prediction, predict, seen_by_net

PRETRAINED_ENV = "ALEXNET_PRETRAINED_DIR"  # tests point it at fixture results


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _load(name: str) -> weights.LoadedModel:
    return weights.load_model(name)


def model(name: str) -> tuple[weights.LoadedModel | None, str | None]:
    """(the loaded model, None) or (None, a note saying how to get it)."""
    # A missing override file (e.g. ALEXNET_CIFAR10_WEIGHTS) is named by the loader, not taken
    # for a missing pretrained/.
    entry = weights.entries()[name]
    overridden = entry.override_env and os.environ.get(entry.override_env)
    if not weights.available()[name] and not overridden:
        return None, entry.missing_note()
    try:
        return _load(name), None
    except (weights.WeightsUnavailable, CheckpointError) as e:
        return None, str(e)
    except OSError as e:  # reading the file itself failed, e.g. no permission
        return None, (f"the weights file {e.filename} cannot be read ({e.strerror}): "
                      "check its permissions")


@st.cache_data(show_spinner=False, max_entries=256)
def seen(model_name: str, image_bytes: bytes):
    """The picture as the model gets it (``alexnet.predict.seen_by_net``), as (S, S, 3) uint8."""
    loaded, note = model(model_name)
    if loaded is None:
        raise RuntimeError(note)
    return seen_by_net(loaded, load_image(image_bytes)).numpy()


@st.cache_data(show_spinner=False, max_entries=256)
def top5(model_name: str, image_bytes: bytes, ten_crop: bool) -> Prediction:
    """The five most probable classes (``alexnet.predict``), cached per image."""
    loaded, note = model(model_name)
    if loaded is None:
        raise RuntimeError(note)
    return predict(loaded, load_image(image_bytes), k=5, use_ten_crop=ten_crop)


def data_dir() -> Path:
    """The CIFAR-10 folder (``test/<class>/*.jpg``): ``alexnet.data.default_data_dir``."""
    return default_data_dir()


@st.cache_data(show_spinner=False)
def sample_images(root: str) -> dict[str, bytes]:
    """One CIFAR-10 test image per class, as file bytes (empty when the data is not here)."""
    test = Path(root) / "test"
    if not test.is_dir():
        return {}
    out = {}
    for folder in sorted(p for p in test.iterdir() if p.is_dir()):
        first = next(iter(sorted(folder.glob("*.jpg")) + sorted(folder.glob("*.png"))), None)
        if first is not None:
            out[f"{folder.name} ({first.name})"] = first.read_bytes()
    return out


@st.cache_data(show_spinner=False, max_entries=64)
def decode(image_bytes: bytes):
    """(RGB PIL image, None) or (None, the reason the file cannot be used)."""
    try:
        return load_image(image_bytes), None
    except ImageError as e:
        return None, str(e)


@st.cache_resource(show_spinner="Reading CIFAR-10…")
def _cifar(root: str, train: bool):
    from alexnet.data import load_cifar10

    return load_cifar10(root, train=train)


def _cifar_split(split: str, train: bool, what: str):
    """(the CIFAR-10 ``split``, None), or (None, a note on where to put it)."""
    root = data_dir()
    if not (root / split).is_dir():
        return None, (f"No CIFAR-10 {what} images at `{root}`: extract the dataset there "
                      f"(`tar -xzf cifar10-jpeg.tar.gz -C ~/.cache/alexnet-data`), or set "
                      f"`{DATA_ENV}` to a folder holding `{split}/<class>/`.")
    from alexnet.unreadable import UnreadableImages

    try:
        return _cifar(str(root), train), None
    except UnreadableImages as e:  # the app has no --skip-bad-images: the files must go
        return None, f"{e.summary}. Remove them (or replace them with good copies), then reload."
    except (OSError, ValueError) as e:  # an empty split, other classes than CIFAR-10's, ...
        return None, f"CIFAR-10 {what} images at `{root}` cannot be used: {e}"


def cifar_test():
    """(the CIFAR-10 test set, None), or (None, a note on where to put it)."""
    return _cifar_split("test", False, "test")


def cifar_train():
    """(the CIFAR-10 training set, None), or (None, a note on where to put it)."""
    return _cifar_split("train", True, "training")


def pretrained_dir() -> Path:
    """Shipped results (reference curves, conv snapshots): ``pretrained/`` or ``ALEXNET_PRETRAINED_DIR``."""
    return Path(os.environ.get(PRETRAINED_ENV, weights.PRETRAINED)).expanduser()
