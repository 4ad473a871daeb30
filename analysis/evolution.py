"""How features take shape during training (ZF Fig. 4).

``alexnet.train`` keeps the conv weights at chosen epochs
(``runs/<run>/snapshots/epochNNN.pt``: ``epoch``, ``model_config`` and
``features``, the ``features.*`` tensors in half precision). For each
snapshot and each chosen (layer, channel) unit, ``evolution`` finds the
image with the strongest activation of that map and projects it to pixels
with the deconvnet (ZF 2.1), as ZF Fig. 4 does at epochs 1, 2, 5, 10, 20,
30, 40, 64.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from alexnet.checkpoint import CheckpointError, check_finite, load_checkpoint
from alexnet.data import CIFAR10_MEAN, CIFAR10_STD
from alexnet.configs import config_from_dict

from ._layers import (Box, check_channel, check_layer, feature_layers, image_batch, model_device, raw_images,
                      takes_any_net)
from .deconv import project
from .top9 import scan_layer

SNAPSHOT_NAME = re.compile(r"epoch(\d+)\.pt")


def load_snapshots(folder, model=None) -> list[tuple[int, dict]]:
    """``(epoch, features state)`` for every ``epochNNN.pt`` in ``folder``, by epoch.

    Files are read with ``weights_only=True``. With ``model``, each snapshot's
    ``model_config`` must be that model's, so its weights mean the same thing.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"snapshot folder {folder} does not exist; training writes it to "
                                "runs/<run>/snapshots (see --snapshot-epochs)")
    files = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := SNAPSHOT_NAME.fullmatch(p.name)))
    if not files:
        raise FileNotFoundError(f"no epochNNN.pt snapshots in {folder}; train with --snapshot-epochs "
                                "to keep the conv weights at chosen epochs")
    out = []
    for epoch, path in files:
        snap = load_checkpoint(path)  # weights_only=True, clear errors for damaged files
        if not isinstance(snap.get("features"), dict) or not snap["features"]:
            raise CheckpointError(f"{path} has no 'features' weights: it is not a conv snapshot")
        check_finite(snap["features"], path)  # a diverged epoch would project nothing but nan
        if model is not None and "model_config" in snap:
            theirs = config_from_dict(snap["model_config"])
            if theirs != model.config:
                raise ValueError(f"{path} was taken from a different net ({theirs}) than this "
                                 f"model ({model.config}); load the run's own model")
        out.append((epoch, snap["features"]))
    return out


@takes_any_net
def with_features(model, features: dict):
    """A copy of ``model`` carrying the snapshot's ``features.*`` weights (the model is untouched)."""
    net = copy.deepcopy(model)
    _load_features(net, features)
    return net


def _load_features(net, features: dict) -> None:
    prefix = "features."
    own = net.features.state_dict()
    state = {k[len(prefix):]: v for k, v in features.items() if k.startswith(prefix)}
    if set(state) != set(own) or any(state[k].shape != own[k].shape for k in own):
        raise ValueError("the snapshot's features do not fit this model: expected "
                         f"{sorted(prefix + k for k in own)} with this model's shapes")
    net.features.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})  # to the model's device


@dataclass
class UnitEvolution:
    """One unit's strongest activation, projected, at each snapshot (ZF Fig. 4's rows)."""

    layer: str
    channel: int
    epochs: list[int]
    image_index: torch.Tensor  # (E,) the image with the strongest activation at each epoch
    position: torch.Tensor  # (E, 2) where in the map, (y, x)
    value: torch.Tensor  # (E,)
    projection: torch.Tensor  # (E, C_in, H, W) on the CPU
    boxes: list[Box]  # (E,) receptive fields, clipped to the image


@takes_any_net
def evolution(model, snapshots, images, units, *, mean=CIFAR10_MEAN, std=CIFAR10_STD,
              batch_size: int = 256, scans: dict | None = None) -> list[UnitEvolution]:
    """For each ``(layer, channel)`` in ``units``, its strongest activation over ``images``
    projected to pixels under each ``(epoch, features)`` of ``snapshots``.

    ``images`` as for ``analysis.top9.scan_layer`` (a TensorDataset, uint8 or
    float tensor). ``scans`` may give ``{(epoch, layer): LayerScan}`` made
    earlier (``strongest_scans``; a top-1 ``LayerScan.from_table`` is enough), so
    only the projections are computed. The caller's model is copied once; its
    weights and mode are never changed.
    """
    units = [(check_layer(model, layer, feature_layers(model)), check_channel(model, layer, c))
             for layer, c in units]
    units = list(dict.fromkeys(units))
    if not units:
        raise ValueError("name at least one (layer, channel) unit, e.g. [('conv5', 3)]")
    snapshots = list(snapshots)
    if not snapshots:
        raise ValueError("no snapshots given; load them with load_snapshots(folder)")
    x = raw_images(images)
    net = copy.deepcopy(model)
    device = model_device(net)
    rows = {u: [] for u in units}
    for epoch, features in snapshots:
        _load_features(net, features)
        for layer in dict.fromkeys(layer for layer, _ in units):  # one scan per layer
            scan = (scans or {}).get((epoch, layer))
            if scan is None:
                scan = scan_layer(net, layer, x, mean=mean, std=std, batch_size=batch_size)
            for unit in (u for u in units if u[0] == layer):
                best = int(scan.values[:, unit[1]].argmax())
                p = project(net, image_batch(x, [best], mean, std, device), layer, unit[1],
                            position=scan.position(best, unit[1]))
                rows[unit].append((epoch, best, p))
    out = []
    for (layer, channel), r in rows.items():
        out.append(UnitEvolution(
            layer, channel, [e for e, _, _ in r], torch.tensor([b for _, b, _ in r]),
            torch.cat([p.position.cpu() for _, _, p in r]), torch.cat([p.value.cpu() for _, _, p in r]),
            torch.cat([p.pixels.cpu() for _, _, p in r]), [p.boxes[0] for _, _, p in r]))
    return out


@takes_any_net
def strongest_scans(model, snapshots, images, layers, *, mean=CIFAR10_MEAN, std=CIFAR10_STD,
                    batch_size: int = 256, progress=None) -> dict:
    """``{(epoch, layer): LayerScan}`` over ``images`` for every snapshot and layer: the
    expensive half of ``evolution``, for every channel at once (``progress(done, total)``)."""
    net, x, out = copy.deepcopy(model), raw_images(images), {}
    snapshots, total = list(snapshots), len(snapshots) * len(layers)
    for epoch, features in snapshots:
        _load_features(net, features)
        for layer in layers:
            out[(epoch, layer)] = scan_layer(net, layer, x, mean=mean, std=std, batch_size=batch_size)
            if progress is not None:
                progress(len(out), total)
    return out
