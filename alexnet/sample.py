"""The embedded CIFAR-10 sample: a few thousand images shipped with the project,
so every page has real pictures before anyone downloads the full set.

    python -m alexnet.sample build --from ~/.cache/alexnet-data/cifar10   # remakes the file
    python -m alexnet.sample info

One file, ``data/cifar10-sample/cifar10_sample.npz`` (read with
``allow_pickle=False``): for each split the JPEG bytes of every image
concatenated (``<split>_jpeg``), where each one ends (``<split>_ends``), and
its label (``<split>_labels``), plus the class names. The bytes are the
source files' own, so the pictures are pixel for pixel those of the full
JPEG set. Images are in class order, a fixed number per class, chosen by a
seeded permutation. See data/cifar10-sample/README.md for origin and licence.
"""

from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_FILE = ROOT / "data" / "cifar10-sample" / "cifar10_sample.npz"
PER_CLASS = {"train": 200, "test": 100}  # 2,000 + 1,000 images, about 2.8 MB of JPEG
SEED = 0
SPLITS = ("train", "test")


def is_sample(path) -> bool:
    """Whether ``path`` names the sample file (or a folder holding it)."""
    p = Path(path).expanduser()
    return p.name == SAMPLE_FILE.name and p.is_file() or (p / SAMPLE_FILE.name).is_file()


def digest(path=SAMPLE_FILE) -> str:
    """The sample file's sha256: shipped page data made from it are keyed by it."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_sample(path=SAMPLE_FILE, train: bool = True):
    """One split of the sample as an ``alexnet.data.TensorDataset`` (N, 3, 32, 32) uint8."""
    from PIL import Image

    from .data import TensorDataset

    path = Path(path).expanduser()
    if path.is_dir():
        path = path / SAMPLE_FILE.name
    split = "train" if train else "test"
    try:
        with np.load(path, allow_pickle=False) as z:
            blob, ends, labels = z[f"{split}_jpeg"], z[f"{split}_ends"], z[f"{split}_labels"]
            classes = tuple(str(c) for c in z["classes"])
    except (OSError, KeyError, ValueError) as e:
        raise FileNotFoundError(f"the embedded CIFAR-10 sample {path} cannot be read ({e}); "
                                "restore data/cifar10-sample/ from the repository") from None
    images = np.empty((len(ends), 32, 32, 3), dtype=np.uint8)
    start = 0
    for i, end in enumerate(ends.tolist()):
        with Image.open(io.BytesIO(blob[start:end].tobytes())) as im:
            images[i] = np.asarray(im.convert("RGB"))
        start = end
    return TensorDataset(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
                         torch.from_numpy(labels.astype(np.int64)), classes)


def build(source, out=SAMPLE_FILE, per_class=None, seed: int = SEED) -> Path:
    """Write the sample from a CIFAR-10 JPEG tree (``source/{train,test}/<class>/*.jpg``)."""
    from .data import CIFAR10_CLASSES

    per_class = per_class or PER_CLASS
    source, out = Path(source).expanduser(), Path(out)
    arrays = {"classes": np.array(CIFAR10_CLASSES)}
    for split in SPLITS:
        blobs, labels = [], []
        for c, name in enumerate(CIFAR10_CLASSES):
            files = sorted((source / split / name).glob("*.jpg"))
            if len(files) < per_class[split]:
                sys.exit(f"{source / split / name} has {len(files)} JPEG images, the sample needs "
                         f"{per_class[split]}: give the CIFAR-10 JPEG tree with --from")
            order = np.random.default_rng([seed, c, SPLITS.index(split)]).permutation(len(files))
            for j in sorted(order[:per_class[split]].tolist()):
                blobs.append(files[j].read_bytes())
                labels.append(c)
        arrays[f"{split}_jpeg"] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
        arrays[f"{split}_ends"] = np.cumsum([len(b) for b in blobs]).astype(np.int64)
        arrays[f"{split}_labels"] = np.array(labels, dtype=np.uint8)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)  # JPEG bytes do not compress further
    tmp.replace(out)
    return out


def main(argv=None) -> None:
    import argparse

    p = argparse.ArgumentParser(prog="python -m alexnet.sample", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="remake the sample from the CIFAR-10 JPEG tree")
    b.add_argument("--from", dest="source", default="~/.cache/alexnet-data/cifar10",
                   help="folder with train/<class>/*.jpg and test/<class>/*.jpg")
    b.add_argument("--out", default=str(SAMPLE_FILE))
    sub.add_parser("info", help="what the shipped sample holds")
    a = p.parse_args(argv)
    if a.cmd == "build":
        out = build(a.source, a.out)
        print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, sha256 {digest(out)[:16]}…)")
    else:
        for split in SPLITS:
            d = load_sample(train=split == "train")
            print(f"{split}: {len(d)} images, {np.bincount(d.labels.numpy()).tolist()} per class")
        print(f"{SAMPLE_FILE} ({SAMPLE_FILE.stat().st_size / 1e6:.1f} MB, sha256 {digest()[:16]}…)")


if __name__ == "__main__":
    main()
