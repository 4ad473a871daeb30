"""Everything slow sits behind Streamlit's caches: models, datasets, predictions.

Models are loaded only through ``alexnet.weights.load_model`` and once per
server (``cache_resource``); results of pure functions are cached per input
(``cache_data``), so no widget change reloads a model or rescans a dataset.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import streamlit as st
from PIL import Image

from alexnet import weights
from alexnet.checkpoint import CheckpointError
from alexnet.data import DATA_ENV, default_data_dir  # noqa: F401  (DATA_ENV: pages name it)
from alexnet.images import ImageError, load_image
from alexnet.predict import Prediction, predict, seen_by_net
from alexnet.sample import SAMPLE_FILE
from analysis.page_data import file_digest, images_digest, load_featvis

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
        button = (" Or press *Download ImageNet weights* under the sidebar's *Downloads*."
                  if name == "imagenet" else "")  # app/downloads.py offers that one
        return None, entry.missing_note() + button
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


def full_cifar(root: Path | None = None) -> bool:
    """Whether the full CIFAR-10 is at ``root``: image folders or torchvision's archive layout."""
    root = root or data_dir()
    return ((root / "train").is_dir() and (root / "test").is_dir()) or \
        (root / "cifar-10-batches-py" / "test_batch").is_file()


def cifar_source() -> tuple[str, str | None]:
    """(what to read CIFAR-10 from, None) for the full set, or (the sample file, a one-line note)."""
    root = data_dir()
    if full_cifar(root):
        return str(root), None
    return str(SAMPLE_FILE), (f"Reading the embedded sample of CIFAR-10 (3,000 images): for the "
                              f"full set, press *Download CIFAR-10* under the sidebar's *Downloads* or run "
                              f"`bash run.sh download cifar10` (or put it in `{root}`).")


@st.cache_data(show_spinner=False)
def sample_images(source: str) -> dict[str, bytes]:
    """One CIFAR-10 test image per class, as PNG bytes."""
    data = _cifar(source, False)
    out = {}
    for c, name in enumerate(data.classes):
        i = int((data.labels == c).nonzero()[0])
        buf = io.BytesIO()
        Image.fromarray(data.images[i].permute(1, 2, 0).numpy()).save(buf, "PNG")
        out[f"{name} (test #{i})"] = buf.getvalue()
    return out


@st.cache_data(show_spinner=False, max_entries=64)
def decode(image_bytes: bytes):
    """(RGB PIL image, None) or (None, the reason the file cannot be used)."""
    try:
        return load_image(image_bytes), None
    except ImageError as e:
        return None, str(e)


@st.cache_resource(show_spinner="Reading CIFAR-10…")
def _cifar(source: str, train: bool):
    from alexnet.data import load_cifar10

    return load_cifar10(source, train=train)


def _split(train: bool):
    """(a CIFAR-10 split, None or the sample's one-line note), or (None, why it cannot be used)."""
    source, note = cifar_source()
    what = "training" if train else "test"
    from alexnet.unreadable import UnreadableImages

    try:
        return _cifar(source, train), note
    except UnreadableImages as e:  # the app has no --skip-bad-images: the files must go
        return None, f"{e.summary}. Remove them (or replace them with good copies), then reload."
    except (OSError, ValueError) as e:  # an empty split, other classes than CIFAR-10's, ...
        return None, f"CIFAR-10 {what} images at `{source}` cannot be used: {e}"


def cifar_test():
    """(the CIFAR-10 test set, None), (the embedded sample's, a note saying so), or
    (None, why the full set on this machine cannot be used)."""
    return _split(False)


def cifar_train():
    """As ``cifar_test``, for the training set."""
    return _split(True)


def pretrained_dir() -> Path:
    """Shipped results (reference curves, conv snapshots): ``pretrained/`` or ``ALEXNET_PRETRAINED_DIR``."""
    return Path(os.environ.get(PRETRAINED_ENV, weights.PRETRAINED)).expanduser()


@st.cache_resource(show_spinner=False, max_entries=8)
def weights_sha(model_name: str, stamp: str) -> str:
    """sha256 of the weights file behind ``model_name`` (``stamp`` notices a replaced file)."""
    info = _load(model_name).info
    if isinstance(info.get("sha256"), str):  # the shipped model: checked against its manifest
        return info["sha256"]
    return file_digest(info.get("path") or weights.entries()[model_name].path())


def model_sha(loaded) -> str:
    """The key page data are stored under for ``loaded``'s weights."""
    entry = weights.entries().get(loaded.name)
    path = loaded.info.get("path") or str(entry.path() if entry else weights.CIFAR10_FILE)
    try:
        stamp = f"{path}:{os.stat(path).st_mtime_ns}"
    except OSError:
        stamp = path
    return weights_sha(loaded.name, stamp)


@st.cache_resource(show_spinner=False, max_entries=4)
def _images_sha(source: str, train: bool) -> str:
    return images_digest(_cifar(source, train))


def data_sha(train: bool) -> str:
    """sha256 of the CIFAR-10 split the pages read now (full set or sample), by its pixels."""
    return _images_sha(cifar_source()[0], train)


@st.cache_resource(show_spinner=False)
def featvis_shipped() -> dict:
    """The feature-visualisation pictures shipped with the CIFAR-10 model
    (``pretrained/featvis.pt``; used only where weights and settings match)."""
    return load_featvis()
