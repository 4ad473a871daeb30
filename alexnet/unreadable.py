"""Images a dataset lists but that cannot be decoded: found by path, then
refused with one line, or skipped and counted (``--skip-bad-images``).

A damaged file (zero bytes, a cut-off download, a page of HTML saved as
``.jpg``) must neither stop a run with a traceback that names no file, nor
vanish silently from the data: the user sees which files, how many, and
the two ways on.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import torch

SKIP_FLAG = "--skip-bad-images"
LISTED = 5  # names in the one-line message; the full list goes to a file


class UnreadableImages(ValueError):
    """Images that cannot be decoded; ``summary`` says which, ``str()`` adds what to do."""

    def __init__(self, summary: str, remedy: str):
        super().__init__(f"{summary}; {remedy}")
        self.summary = summary


def why(path, error: Exception) -> str:
    """A few words on why ``path`` cannot be decoded, from the decoder's ``error``."""
    try:
        if Path(path).stat().st_size == 0:
            return "empty file"
    except OSError as e:
        return f"cannot be opened: {e.strerror}"
    text = str(error).lower()
    if type(error).__name__ == "UnidentifiedImageError":
        return "not an image"
    if "truncated" in text:
        return "truncated"
    first = str(error).splitlines()[0][:60] if str(error) else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def open_rgb(path):
    """The image at ``path`` as a fully decoded RGB PIL image (raises if it cannot be)."""
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")  # convert loads every pixel, so truncation shows here


def _full_list(root: Path, bad: list) -> Path | None:
    """Write every unreadable file of ``root`` to a text file (one path a line); its path."""
    from .data import cache_dir

    name = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    out = cache_dir() / "unreadable" / f"{root.name}-{name}.txt"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(f"{root / rel}\t{reason}\n" for rel, reason, *_ in bad))
    except OSError:
        return None  # the message still lists the first ones
    return out


def report(root, bad: list, total: int, skip: bool, remedy: str | None = None,
           noun: str = "images") -> None:
    """Refuse ``bad`` images of ``root`` (``(relative path, why, ...)`` entries among
    ``total``) with one line, or, with ``skip``, say on stderr how many are skipped.

    Nothing to report when ``bad`` is empty. A folder with no readable image
    at all is refused even when skipping: there would be nothing left.
    """
    if not bad:
        return
    root = Path(root)
    shown = ", ".join(f"{rel} ({reason})" for rel, reason, *_ in bad[:LISTED])
    if len(bad) > LISTED:
        listing = _full_list(root, bad)
        shown += f" (first {LISTED} listed" + (f"; all {len(bad):,} in {listing})" if listing else ")")
    counted = f"{len(bad):,} of {total:,} {noun} in {root}"
    if len(bad) == total:
        raise UnreadableImages(f"none of the {total:,} images in {root} can be read: {shown}",
                               "check that the folder holds the images themselves (JPEG, PNG, ...)")
    if not skip:
        raise UnreadableImages(f"{counted} cannot be read: {shown}",
                               remedy or f"remove them or pass {SKIP_FLAG}")
    print(f"skipping {counted} that cannot be read ({SKIP_FLAG}): {shown}", file=sys.stderr, flush=True)


class ReadableOnly(torch.utils.data.Dataset):
    """An ``ImageFolder`` whose unreadable images come out as ``(None, label, (path, why))``
    instead of raising inside a DataLoader worker (which would end the run with the
    worker's traceback); ``collate`` sets them apart from the batch."""

    def __init__(self, folder):
        self.folder = folder

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, i: int):
        path, label = self.folder.samples[i]
        try:
            image = self.folder.loader(path)
        except Exception as e:  # PIL raises many kinds for damaged files; all are the data's fault
            return None, label, (path, why(path, e))
        if self.folder.transform is not None:
            image = self.folder.transform(image)
        return image, label, None


def collate(batch):
    """(images, labels, [(path, why), ...]) from ``ReadableOnly`` items; images None if none read."""
    from torch.utils.data import default_collate

    good = [(x, y) for x, y, bad in batch if bad is None]
    images, labels = default_collate(good) if good else (None, None)
    return images, labels, [bad for _, _, bad in batch if bad is not None]
