"""A folder of the user's own pictures, for the pages that search a dataset.

ZF Fig. 2 (top 9), AK Fig. 4 (neighbours), ZF 4.3 (correspondence) and ZF 5.2
(per-layer features) search a set of images. The CIFAR-10 model reads
CIFAR-10; any other model (torchvision's ImageNet AlexNet first) reads a
folder the user points to: pictures straight in it (flat), or one sub-folder
per class (ImageFolder layout; both may be mixed, the loose pictures then have
no class). Files are listed, not decoded, here: a picture is read when it is
needed, as the weights want it (their ``Preprocessing``); files that cannot be
decoded are found then, listed and skipped.

``Collection.digest`` names the folder's contents (relative paths, sizes and
modification times), so anything computed over it is recomputed when a file
is added, removed or changed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .data import IMAGE_SUFFIXES, class_folders, picture_files
from .images import READABLE, ImageError, load_image

COLLECTION_ENV = "ALEXNET_IMAGES"  # the folder the app reads until one is chosen in its sidebar
MAX_IMAGES = 20_000  # a scan holds about 30 kB per picture (features of every layer)


@dataclass(frozen=True)
class Collection:
    """The pictures of a folder, listed in a fixed order (class folders first, by name)."""

    root: Path
    files: tuple[str, ...]  # paths relative to root
    labels: tuple[int, ...]  # class index per file; -1: a picture straight in root (no class)
    classes: tuple[str, ...]  # the sub-folders holding pictures; () for a flat folder
    stamps: tuple[tuple[int, int], ...]  # (size in bytes, mtime in ns) per file

    def __len__(self) -> int:
        return len(self.files)

    @property
    def digest(self) -> str:
        """sha256 of the root and every file's path, size and modification time."""
        h = hashlib.sha256(str(self.root).encode())
        for f, (size, mtime) in zip(self.files, self.stamps):
            h.update(f"\n{f}|{size}|{mtime}".encode())
        return h.hexdigest()

    @property
    def labelled(self) -> bool:
        """Whether every picture has a class (a class-folder layout, two classes or more)."""
        return len(self.classes) >= 2 and min(self.labels) >= 0

    def label(self, i: int) -> str:
        """What to call picture ``i`` on a page: its class and its file name."""
        return self.files[i] if self.labels[i] < 0 else f"{self.classes[self.labels[i]]}/{Path(self.files[i]).name}"

    def read(self, i: int) -> bytes:
        return (self.root / self.files[i]).read_bytes()

    def pixels(self, i: int, preprocessing) -> torch.Tensor:
        """Picture ``i`` as the net sees it before normalisation: (3, S, S) uint8
        (resized and centre-cropped as ``preprocessing`` says). Raises ImageError or OSError."""
        from torchvision.transforms import v2 as T

        image = load_image(self.read(i))
        return T.Compose(preprocessing.steps()[:-2])(image)  # ToImage, Resize, CenterCrop


def scan_folder(folder, max_images: int = MAX_IMAGES) -> Collection:
    """List the pictures in ``folder`` (flat, or one sub-folder per class). Raises
    FileNotFoundError or ValueError with a message saying what to give instead."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder on this machine: give a folder of pictures "
                                "(straight in it, or one sub-folder per class)")
    root = root.resolve()
    try:
        subs = class_folders(root)
        found = [(p, c) for c, d in enumerate(subs) for p in picture_files(d)]
        loose = picture_files(root)
    except OSError as e:
        raise FileNotFoundError(f"{root} cannot be read ({e.strerror}): check its permissions") from None
    classes = tuple(d.name for d in subs if any(p.parent == d for p, _ in found))
    index = {name: i for i, name in enumerate(classes)}
    files = [(p, index[p.parent.name]) for p, _ in found] + [(p, -1) for p in loose]
    if not files:
        raise ValueError(f"{root} holds no pictures ({READABLE}: {', '.join(IMAGE_SUFFIXES)}), "
                         "neither straight in it nor in its sub-folders")
    if len(files) > max_images:
        raise ValueError(f"{root} holds {len(files):,} pictures; the pages search at most "
                         f"{max_images:,}: point them at a smaller folder (e.g. a few classes)")
    stamps = []
    for p, _ in files:
        s = p.stat()
        stamps.append((s.st_size, s.st_mtime_ns))
    return Collection(root, tuple(str(p.relative_to(root)) for p, _ in files),
                      tuple(label for _, label in files), classes, tuple(stamps))


def prepared(collection: Collection, indices, preprocessing) -> tuple[torch.Tensor, list[int], list[tuple[str, str]]]:
    """(pictures ``indices`` as the net sees them, (n, 3, S, S) uint8; the indices that could be
    read; [(file, why)] for those that could not)."""
    s = preprocessing.input_size
    out, kept, bad = [], [], []
    for i in indices:
        try:
            out.append(collection.pixels(i, preprocessing))
            kept.append(i)
        except (ImageError, OSError) as e:
            bad.append((collection.files[i], str(e).removeprefix(f"this file is not an image we can read ({READABLE}): ")))
    images = torch.stack(out) if out else torch.empty(0, 3, s, s, dtype=torch.uint8)
    return images, kept, bad


def default_folder() -> str:
    """The folder named by ``ALEXNET_IMAGES``, or "" when it is not set."""
    return os.environ.get(COLLECTION_ENV, "").strip()
