"""torchvision's ImageNet AlexNet for the tests, without its real weights, and picture folders.

The real ``alexnet-owt-7be5be79.pth`` (233 MB) cannot be downloaded here.
``imagenet_weights`` writes a state dict of the same format (torchvision's
``alexnet(weights=None)``, random) where torch's hub cache keeps the real
one; ``accept`` replaces, for one test only, the registry entry's published
checksum by that file's, so everything else (the path, the format, the load,
the classes, the preprocessing) is the real code path.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import torch
from PIL import Image

from alexnet import weights
from alexnet.loading import sha256

CLASSES = ("blue", "green", "red")  # sorted, as the class folders are read
TINT = {"red": 0, "green": 1, "blue": 2}  # the channel each class leans to


def imagenet_weights(torch_home) -> str:
    """A random torchvision-format AlexNet state dict where the registry looks for the real one
    (``TORCH_HOME``/hub/checkpoints); returns its sha256."""
    import torchvision

    path = torch_home / "hub" / "checkpoints" / weights.TORCHVISION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    return sha256(path)


def accept(monkeypatch, digest: str) -> None:
    """Let the registry's ``imagenet`` entry take the file whose sha256 is ``digest``."""
    entry = weights.entries()["imagenet"]
    monkeypatch.setitem(weights._WEIGHTS, "imagenet", dataclasses.replace(entry, sha256_prefix=digest[:8]))


def picture(seed: int, colour: int | None = None, size=(300, 260), fmt="JPEG") -> bytes:
    """A noisy picture, tinted towards one channel when ``colour`` is given."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 160, (size[1], size[0], 3))
    if colour is not None:
        a[..., colour] += 95
    buf = io.BytesIO()
    Image.fromarray(a.astype(np.uint8)).save(buf, fmt)
    return buf.getvalue()


def class_folder(root, per_class: int = 8, broken: bool = True):
    """``root/<blue|green|red>/NN.jpg`` (a few sizes and formats), and one file that is not an image."""
    for c, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            fmt = "PNG" if i % 4 == 3 else "JPEG"
            size = (300, 260) if i % 2 else (240, 320)
            (root / name / f"{i:02d}.{fmt.lower()}").write_bytes(picture(10 * c + i, TINT[name], size, fmt))
    if broken:
        (root / CLASSES[0] / "broken.jpg").write_bytes(b"not a picture at all")
    return root


def flat_folder(root, count: int = 12):
    """``root/pNN.jpg``: pictures with no class folders."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (root / f"p{i:02d}.jpg").write_bytes(picture(500 + i, i % 3))
    return root
