"""The nine strongest activations of a feature map over a dataset (ZF Fig. 2).

Two steps:

1. ``scan_layer`` runs the whole dataset through the net once and keeps, for
   every image and every channel of the layer, the strongest activation and
   where it is. This is the expensive part, so it can be cached on disk:
   pass ``cache_dir`` (e.g. ``alexnet.data.cache_dir()``) and the scan is
   saved there (atomically) under a key hashed from the weights of the stages
   up to the layer, the layer, and the images; ``cache_dir=None`` (the
   default) never touches the disk (``analysis.neighbours`` caches the same way).
2. ``top9`` ranks the images by that maximum for one channel and projects
   each of the nine back to pixels with the deconvnet (ZF 2.1), next to the
   image patch under the unit's receptive field.

One activation per image, its strongest: ZF Fig. 2's nine patches of a map
come from nine different images.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from alexnet.checkpoint import save_atomic
from alexnet.data import CIFAR10_MEAN, CIFAR10_STD

from ._layers import (Box, check_channel, check_layer, feature_layers, forward_until, image_batch,
                      model_device, raw_images, stages, takes_any_net)
from .deconv import project

SCAN_FORMAT = 1  # bump when the cached layout changes


@dataclass
class LayerScan:
    """Per image and channel, the strongest activation of a layer and where it is."""

    layer: str
    values: torch.Tensor  # (N, C) float32
    positions: torch.Tensor  # (N, C) int64, flat index y * W + x into the (H, W) map
    map_size: tuple[int, int]  # (H, W)

    def top(self, channel: int, k: int = 9) -> tuple[torch.Tensor, torch.Tensor]:
        """Image indices and values of the ``k`` strongest images for ``channel``, best first."""
        values, index = self.values[:, channel].topk(min(k, len(self.values)))
        return index, values

    def position(self, image: int, channel: int) -> tuple[int, int]:
        flat = int(self.positions[image, channel])
        return divmod(flat, self.map_size[1])

    def table(self, k: int = 9) -> dict:
        """The ``k`` strongest images of every channel (what ``top``/``position`` need for
        them): ``index``, ``value``, ``position`` each (C, k), best first; small enough to ship."""
        values, index = self.values.topk(min(k, len(self.values)), dim=0)  # (k, C) each
        return {"layer": self.layer, "n": len(self.values), "map_size": list(self.map_size),
                "index": index.T.contiguous(), "value": values.T.contiguous(),
                "position": self.positions.gather(0, index).T.contiguous()}

    @classmethod
    def from_table(cls, t: dict) -> "LayerScan":
        """A scan that knows only a ``table``'s images: the others read -inf (never in a top k)."""
        c = len(t["index"])
        index = t["index"].long()
        values = torch.full((int(t["n"]), c), float("-inf"))
        positions = torch.zeros((int(t["n"]), c), dtype=torch.int64)
        cols = torch.arange(c)[:, None].expand_as(index)
        values[index, cols] = t["value"].float()
        positions[index, cols] = t["position"].long()
        return cls(t["layer"], values, positions, tuple(t["map_size"]))


def _bytes(t: torch.Tensor) -> bytes:
    return t.detach().cpu().contiguous().flatten().view(torch.uint8).numpy().tobytes()


@takes_any_net
def scan_key(model, layer: str, images, mean, std) -> str:
    """Hash of what a scan depends on: stages up to ``layer`` (and weights), the images, the normaliser."""
    x = raw_images(images)
    h = hashlib.sha256(f"{SCAN_FORMAT}|{layer}|{tuple(mean)}|{tuple(std)}|{tuple(x.shape)}|{x.dtype}".encode())
    for name, m in stages(model):
        h.update(f"{name}:{m!r}".encode())
        for k, v in m.state_dict().items():
            h.update(k.encode() + _bytes(v))
        if name == layer:
            break
    h.update(_bytes(x))
    return h.hexdigest()


def _load_cached(path: Path, key: str, layer: str):
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
        if d.get("key") != key:
            return None
        return LayerScan(layer, d["values"], d["positions"].long(), tuple(d["map_size"]))
    except Exception:  # damaged or foreign: recompute and overwrite, never trust it
        return None


@takes_any_net
def scan_layer(model, layer: str, images, *, mean=CIFAR10_MEAN, std=CIFAR10_STD,
               batch_size: int = 256, cache_dir=None, progress: bool = False) -> LayerScan:
    """Strongest activation and its position for every image and channel of ``layer``.

    ``images``: an ``alexnet.data.TensorDataset`` or an (N, 3, H, W) tensor;
    uint8 images are normalised with ``mean``/``std``, float ones used as they
    are. Runs on the model's device in batches of ``batch_size``. With
    ``cache_dir`` the result is read from / written to
    ``cache_dir/scan-<layer>-<key>.pt``; without it nothing is written.
    """
    check_layer(model, layer, feature_layers(model))
    x = raw_images(images)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    path = key = None
    if cache_dir is not None:
        key = scan_key(model, layer, images, mean, std)
        path = Path(cache_dir).expanduser() / f"scan-{layer}-{key[:24]}.pt"
        if path.is_file() and (cached := _load_cached(path, key, layer)) is not None:
            return cached

    device = model_device(model)
    values, positions, size = [], [], None
    starts = range(0, len(x), batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=f"scanning {layer}", unit="batch")
    with torch.no_grad():
        for i in starts:
            a = forward_until(model, image_batch(x, slice(i, i + batch_size), mean, std, device), layer)
            size = tuple(a.shape[-2:])  # (H, W)
            v, p = a.flatten(2).max(dim=2)  # (B, C) each
            values.append(v.float().cpu())
            positions.append(p.cpu())
    scan = LayerScan(layer, torch.cat(values), torch.cat(positions), size)
    if path is not None:
        save_atomic({"key": key, "values": scan.values, "positions": scan.positions.int(),
                     "map_size": list(size)}, path)
    return scan


@dataclass
class TopActivation:
    """One of a feature map's strongest activations (ZF Fig. 2)."""

    image_index: int
    position: tuple[int, int]  # (y, x) in the layer's map
    value: float
    box: Box  # receptive field in input pixels, clipped to the image
    patch: torch.Tensor  # (3, h, w) the input image under ``box``, as stored (uint8 or float)
    projection: torch.Tensor  # (3, h, w) the deconv projection under ``box``, float


@takes_any_net
def top9(model, layer: str, channel: int, images, *, k: int = 9, scan: LayerScan | None = None,
         mean=CIFAR10_MEAN, std=CIFAR10_STD, batch_size: int = 256, cache_dir=None) -> list[TopActivation]:
    """The ``k`` strongest activations of ``layer``'s map ``channel`` over ``images``, best first.

    Pass a ``scan`` from ``scan_layer`` to reuse it across channels;
    otherwise one is made (and cached only if ``cache_dir`` is given).
    """
    check_layer(model, layer, feature_layers(model))
    check_channel(model, layer, channel)
    x = raw_images(images)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer (fewer images give fewer results), got {k!r}")
    if scan is None:
        scan = scan_layer(model, layer, images, mean=mean, std=std, batch_size=batch_size,
                          cache_dir=cache_dir)
    elif scan.layer != layer or len(scan.values) != len(x):
        raise ValueError(f"the scan given is of {scan.layer!r} over {len(scan.values)} images, "
                         f"not of {layer!r} over these {len(x)}")
    index, values = scan.top(channel, k)
    pos = torch.tensor([scan.position(int(i), channel) for i in index])  # (k, 2)
    batch = image_batch(x, index, mean, std, model_device(model))
    proj = project(model, batch, layer, channel, position=pos.to(batch.device))
    out = []
    for j, i in enumerate(index.tolist()):
        b = proj.boxes[j]
        region = (slice(None), slice(b.top, b.bottom), slice(b.left, b.right))
        out.append(TopActivation(i, tuple(pos[j].tolist()), float(values[j]), b,
                                 x[i][region].cpu(), proj.pixels[j][region].float().cpu()))
    return out
