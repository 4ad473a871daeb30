"""What the app's dataset pages compute on first visit, keyed so it is done once.

Three kinds, each a small tensor dict:

- ``top9``: for one layer, the nine strongest test images of every feature
  map, where and how strong (``LayerScan.table``; ZF Fig. 2);
- ``evolution``: for one layer, the strongest test image of every map at
  every training snapshot (top-1 tables; ZF Fig. 4);
- ``neighbours``: the fc7 features of the reference training images (AK 6.1);
  the shipped ones in float16 (distances change in the fourth digit);
- ``layer_features``: the Layer features page's table (ZF Table 7) at its
  default settings: a linear probe's test accuracy per layer and split.

Each is stored under a key hashed from the weights file's sha256, the
images' own bytes and the parameters, so another model or dataset never
reads it. For the shipped model and the embedded sample they ship in
``pretrained/page_data.pt``; regenerate that file after retraining with

    .venv/bin/python -m analysis.page_data build

Anything else is computed by the app (in the background, once per server)
and kept in ``alexnet.data.cache_dir()/page_data/<key>.pt``.

The same command remakes ``pretrained/featvis.pt``: the Feature visualisation
page's pictures for every map of its default layer at its default settings
(``analysis.featvis.shippable``, keyed by the weights and settings as its disk
cache is), so its first picture needs no climb.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import torch

from alexnet.checkpoint import CheckpointError, load_checkpoint, save_atomic
from alexnet.data import TensorDataset, cache_dir
from alexnet.loading import sha256 as file_digest  # the weights' own checksum, as the registry takes it
from alexnet.stages import rectified_maps
from alexnet.weights import PRETRAINED

from .evolution import strongest_scans
from ._layers import image_batch
from .featvis import shippable
from .layer_features import balanced_subset, layer_accuracy
from .neighbours import features
from .top9 import scan_layer

FORMAT = 1  # bump when what is stored changes
SHIPPED = PRETRAINED / "page_data.pt"
FEATVIS_SHIPPED = PRETRAINED / "featvis.pt"
TOP9_IMAGES = (1000, 2000, 5000)  # the Deconvnet page's choices (and the whole test set)
NEIGHBOUR_IMAGES = (5000, 50_000)  # the Neighbours page's choices, capped at the set's size
EVOLUTION_IMAGES = 500  # test images searched per snapshot on the Evolution page
LAYER_FEATURES = {"total": 100, "per_class": 30, "splits": 3}  # the Layer features page's defaults


def spread(data: TensorDataset, n: int) -> tuple[torch.Tensor, int]:
    """(``n`` images spread over ``data``, the stride): CIFAR-10 comes sorted by class,
    so every ``stride``-th image keeps the classes mixed."""
    step = max(1, len(data) // n)
    return data.images[::step][:n], step


def images_digest(data: TensorDataset) -> str:
    """sha256 of the decoded pixels and labels: the same pictures give the same key,
    whatever file layout they came from."""
    h = hashlib.sha256()
    for t in (data.images, data.labels):
        t = t.contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def snapshots_digest(folder) -> str:
    """sha256 over the snapshot files (``epochNNN.pt``) in ``folder``, in order."""
    files = sorted(Path(folder).glob("epoch*.pt"))
    return hashlib.sha256("".join(f"{p.name}:{file_digest(p)}" for p in files).encode()).hexdigest()


def key(kind: str, weights_sha: str, data_sha: str, **params) -> str:
    """The name of one piece of page data."""
    text = f"{FORMAT}|{kind}|{weights_sha}|{data_sha}|" + "|".join(f"{k}={params[k]}" for k in sorted(params))
    return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:24]}"


def compute_top9(model, images, layer: str, mean, std, progress=None) -> dict:
    """``LayerScan.table`` of ``layer`` over ``images`` (int32 indices: 9 per map, a few kB)."""
    t = scan_layer(model, layer, images, mean=mean, std=std).table(9)
    if progress is not None:
        progress(1, 1)
    return {**t, "index": t["index"].int(), "value": t["value"].float(), "position": t["position"].int()}


def compute_evolution(model, snapshots, images, layer: str, mean, std, progress=None) -> dict:
    """Top-1 tables of ``layer`` at every snapshot: ``{"epochs": [...], "<epoch>": table}``."""
    scans = strongest_scans(model, snapshots, images, [layer], mean=mean, std=std, progress=progress)
    out = {"epochs": [e for e, _ in snapshots]}
    for (epoch, _), s in scans.items():
        t = s.table(1)
        out[str(epoch)] = {**t, "value": t["value"].float(), "index": t["index"].int(),
                           "position": t["position"].int()}
    return out


def compute_neighbours(model, images, mean, std, progress=None) -> torch.Tensor:
    """(N, D) fc7 reference features (float32; ``build`` ships them as float16)."""
    return features(model, images, mean, std, progress=progress)


def compute_layer_features(model, data: TensorDataset, total: int, per_class: int, splits: int, mean, std,
                           progress=None) -> list:
    """ZF Table 7 over ``total`` test images a class of ``data``, ``per_class`` of them labelled:
    ``[(layer, features, [test accuracy per split])]``, as ``python -m analysis.layer_features``."""
    pick = balanced_subset(data.labels, total)
    rows = layer_accuracy(model, image_batch(data, pick, mean, std), data.labels[pick], per_class, splits=splits)
    if progress is not None:
        progress(1, 1)
    return [(r.layer, r.features, r.accuracy.tolist()) for r in rows]


def layer_features_settings(labels: torch.Tensor, classes: int) -> tuple[int, dict]:
    """(the images a class the Layer features page offers for ``labels``: its rarest class's
    count, at most 200; its default settings there, fewer images a class where there are fewer)."""
    pool = min(int(torch.bincount(labels, minlength=classes).min()), 200)
    total = min(LAYER_FEATURES["total"], pool)
    return pool, {**LAYER_FEATURES, "total": total, "per_class": min(LAYER_FEATURES["per_class"], total - 1)}


class Store:
    """Page data by key: the shipped file first, then the disk cache (then the caller computes)."""

    def __init__(self, shipped=SHIPPED, folder=None):
        self.folder = Path(folder) if folder else cache_dir() / "page_data"
        self.shipped = {}
        if Path(shipped).is_file():
            try:
                self.shipped = load_checkpoint(shipped).get("parts", {})
            except CheckpointError:
                self.shipped = {}  # damaged: everything is recomputed, nothing trusted

    def get(self, name: str):
        if name in self.shipped:
            return self.shipped[name]
        path = self.folder / f"{name}.pt"
        if path.is_file():
            try:
                d = load_checkpoint(path)
                if d.get("key") == name:
                    return d["value"]
            except CheckpointError:
                pass  # recomputed and overwritten
        return None

    def put(self, name: str, value) -> None:
        save_atomic({"key": name, "value": value}, self.folder / f"{name}.pt")


def build(out=SHIPPED) -> dict:
    """Every page's data for the shipped CIFAR-10 model over the embedded sample."""
    from alexnet.sample import SAMPLE_FILE, load_sample
    from alexnet.weights import CIFAR10_FILE, load_cifar10

    from .evolution import load_snapshots

    loaded = load_cifar10()
    m, mean, std = loaded.model, loaded.mean, loaded.std
    weights_sha = file_digest(CIFAR10_FILE)
    test, train = load_sample(SAMPLE_FILE, train=False), load_sample(SAMPLE_FILE, train=True)
    test_sha, train_sha = images_digest(test), images_digest(train)
    parts, t0 = {}, time.time()

    def note(what):
        print(f"{time.time() - t0:6.1f} s  {what}", flush=True)

    for n in sorted({min(n, len(test)) for n in (*TOP9_IMAGES, len(test))}):
        images, _ = spread(test, n)
        for layer in rectified_maps(m):  # the pages' layers: every rectified map
            parts[key("top9", weights_sha, test_sha, n=n, layer=layer)] = compute_top9(
                m, images, layer, mean, std)
            note(f"top 9 of {layer} over {n} test images")
    n = min(NEIGHBOUR_IMAGES[0], len(train))
    images, step = spread(train, n)
    parts[key("neighbours", weights_sha, train_sha, n=n, step=step)] = compute_neighbours(
        m, images, mean, std).half()
    note(f"fc7 of {n} training images")
    folder = PRETRAINED / "snapshots"
    snaps = load_snapshots(folder, m)
    snap_sha = snapshots_digest(folder)
    n = min(EVOLUTION_IMAGES, len(test))
    images, _ = spread(test, n)
    for layer in rectified_maps(m):
        parts[key("evolution", weights_sha, test_sha, n=n, layer=layer, snapshots=snap_sha)] = \
            compute_evolution(m, snaps, images, layer, mean, std)
        note(f"evolution of {layer} at epochs {[e for e, _ in snaps]}")
    _, settings = layer_features_settings(test.labels, len(test.classes))
    parts[key("layer_features", weights_sha, test_sha, **settings)] = compute_layer_features(
        m, test, **settings, mean=mean, std=std)
    note(f"linear probe on every layer, {settings}")
    save_atomic({"format": FORMAT, "weights_sha256": weights_sha, "parts": parts}, out)
    return parts


def load_featvis(path=FEATVIS_SHIPPED) -> dict:
    """The shipped feature-visualisation entries (``visualise(shipped=...)``), or {} when the
    file is missing or damaged (the page then computes)."""
    if not Path(path).is_file():
        return {}
    try:
        return load_checkpoint(path).get("parts", {})
    except CheckpointError:
        return {}


def build_featvis(out=FEATVIS_SHIPPED) -> dict:
    """The shipped model's feature-visualisation pictures for every map of its last conv
    layer (the page's default) at the default settings."""
    from alexnet.stages import num_channels
    from alexnet.weights import CIFAR10_FILE, load_cifar10

    loaded = load_cifar10()
    m, layer = loaded.model, loaded.model.roles.last_conv
    t0 = time.time()
    parts = shippable(m, layer, range(num_channels(m, layer)), size=loaded.input_size,
                      mean=loaded.mean, std=loaded.std)
    print(f"{time.time() - t0:6.1f} s  feature visualisation of {len(parts)} maps of {layer}", flush=True)
    save_atomic({"format": FORMAT, "weights_sha256": file_digest(CIFAR10_FILE), "parts": parts}, out)
    return parts


def main(argv=None) -> None:
    import argparse

    p = argparse.ArgumentParser(prog="python -m analysis.page_data", description=__doc__.splitlines()[0])
    p.add_argument("cmd", choices=["build"], help="remake pretrained/page_data.pt and "
                   "pretrained/featvis.pt for the shipped model and the embedded sample (a few "
                   "minutes on two cores)")
    p.add_argument("--out", default=str(SHIPPED))
    p.add_argument("--featvis-out", default=str(FEATVIS_SHIPPED))
    p.add_argument("--only", choices=["page-data", "featvis"], help="remake one of the two files")
    a = p.parse_args(argv)
    jobs = [(build, a.out), (build_featvis, a.featvis_out)]
    if a.only:
        jobs = jobs[:1] if a.only == "page-data" else jobs[1:]
    for make, out in jobs:
        try:
            parts = make(out)
        except (FileNotFoundError, CheckpointError, ValueError) as e:
            sys.exit(f"cannot build the page data: {e}")
        print(f"wrote {out}: {len(parts)} parts, {Path(out).stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
