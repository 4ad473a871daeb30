"""One pass of a net over the user's picture folder (``alexnet.collection``), kept for the pages.

Top 9 (ZF Fig. 2), neighbours (AK Fig. 4) and per-layer features (ZF 5.2,
Table 7) all need the net's activations over every picture of the folder.
``scan_collection`` decodes each picture once, as the weights want it, runs
the net once, and keeps what the three need, a few tens of kB a picture:

- ``top9``: for every rectified map (ZF's layers 1-5), the nine strongest
  pictures of every feature map, where and how strong (``LayerScan.table``);
- ``features``: every rectified layer's features, averaged over 2x2 cells of
  the map (``linear_probe.pool_features``), float16; the penultimate layer
  (fc7) whole: the neighbours' space. With a flat folder (no classes) only
  that one, as the probe needs labels.

Indices in the result count the pictures that could be read (``index`` maps
them back to the folder's); the others are listed in ``unreadable``.
"""

from __future__ import annotations

from typing import Callable

import torch

from alexnet.collection import Collection, prepared
from alexnet.data import normalize
from alexnet.stages import activations, rectified_maps, role

from ._layers import model_device, takes_any_net
from .layer_features import hidden_layers
from .linear_probe import pool_features
from .top9 import LayerScan, TopActivation, top9


class NoPictures(ValueError):
    """None of the folder's pictures can be read; the message says which and why."""

    plain = True  # app.jobs shows the message alone, without the exception's name


@takes_any_net
def scan_collection(model, collection: Collection, preprocessing, batch_size: int = 32,
                    progress: Callable[[int, int], None] | None = None) -> dict:
    """What the pages need of ``model`` over ``collection`` (see the module's docstring).

    ``preprocessing``: the weights' ``alexnet.preprocessing.Preprocessing``. The caller
    sets the model's mode (eval). Raises ``NoPictures`` when no picture can be read.
    """
    maps = list(rectified_maps(model))
    penultimate = role(model, "penultimate")
    pooled = list(hidden_layers(model)) if collection.labelled else [penultimate]
    device, n = model_device(model), len(collection)
    kept, bad, values, positions, sizes = [], [], {m: [] for m in maps}, {m: [] for m in maps}, {}
    feats = {name: [] for name in pooled}
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            images, ok, unreadable = prepared(collection, range(start, min(start + batch_size, n)),
                                              preprocessing)
            kept += ok
            bad += unreadable
            if ok:
                x = normalize(images.to(device), preprocessing.mean, preprocessing.std)
                acts = activations(model, x, set(maps) | set(pooled))
                for m in maps:
                    a = acts[m]  # (B, C, H, W)
                    sizes[m] = tuple(a.shape[-2:])
                    v, p = a.flatten(2).max(dim=2)  # (B, C) strongest activation and where
                    values[m].append(v.float().cpu())
                    positions[m].append(p.cpu())
                for name in pooled:
                    f = acts[name] if name == penultimate else pool_features(acts[name])
                    feats[name].append(f.flatten(1).half().cpu())
            if progress is not None:
                progress(min(start + batch_size, n), n)
    if not kept:
        raise NoPictures(f"none of the {n} pictures in {collection.root} can be read (first: "
                         f"{bad[0][0]}: {bad[0][1]}); choose a folder of PNG, JPEG, WebP, BMP or GIF pictures")
    tables = {}
    for m in maps:
        t = LayerScan(m, torch.cat(values[m]), torch.cat(positions[m]), sizes[m]).table(9)
        tables[m] = {**t, "index": t["index"].int(), "position": t["position"].int()}
    labels = torch.tensor([collection.labels[i] for i in kept])
    return {"index": torch.tensor(kept), "labels": labels, "unreadable": [list(b) for b in bad],
            "top9": tables, "features": {k: torch.cat(v).clone() for k, v in feats.items()}}


@takes_any_net
def top9_from_table(model, table: dict, channel: int, images: torch.Tensor, mean, std) -> list[TopActivation]:
    """ZF Fig. 2 for one map from a stored ``table`` (``scan_collection``'s ``top9[layer]``):
    ``images`` are the table's pictures for ``channel``, in its order ((k, 3, S, S) uint8);
    each result's ``image_index`` counts in them."""
    k, c = len(images), len(table["index"])
    values = torch.full((k, c), float("-inf"))
    positions = torch.zeros((k, c), dtype=torch.int64)
    values[:, channel] = table["value"][channel, :k].float()
    positions[:, channel] = table["position"][channel, :k].long()
    scan = LayerScan(table["layer"], values, positions, tuple(table["map_size"]))
    return top9(model, table["layer"], channel, images, k=k, scan=scan, mean=mean, std=std)
