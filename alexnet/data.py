"""Data: CIFAR-10 and ImageNet-style folders, decoded, normalised and batched (the crops: ``crops``).

Small datasets (CIFAR-10) are decoded once into a uint8 tensor, cached on
disk, and augmented a whole batch at a time in torch. Large folders
(ImageNet) stream through torchvision's ``ImageFolder`` and ``DataLoader``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import save_atomic
from .crops import cutout, random_crop_flip
from .unreadable import open_rgb, report, why

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
# Per-channel statistics of the CIFAR-10 training set, in [0, 1] units. The
# paper subtracts a per-pixel mean image (AK 2); at 32x32 per-channel
# standardisation is the common equivalent, and the same whichever way the
# data arrives.
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
AUGMENTS = ("crop-flip", "photo")  # BatchIterator's training augmentations
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")


DATA_ENV = "ALEXNET_DATA_DIR"  # where CIFAR-10 lies, for every command and the app


def default_data_dir() -> Path:
    """The CIFAR-10 folder used when none is given: ``$ALEXNET_DATA_DIR``, else
    ``~/.cache/alexnet-data/cifar10``. The one default of the CLIs, the app and the experiments."""
    return Path(os.environ.get(DATA_ENV) or Path.home() / ".cache" / "alexnet-data" / "cifar10").expanduser()


def cache_dir() -> Path:
    """Where decoded datasets and PCA bases are kept (``ALEXNET_CACHE`` overrides)."""
    return Path(os.environ.get("ALEXNET_CACHE", Path.home() / ".cache" / "alexnet-lab"))


@dataclass
class TensorDataset:
    """Decoded images in memory: ``images`` (N, 3, H, W) uint8, ``labels`` (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


def visible(entry: Path) -> bool:
    """Not hidden: ``.ipynb_checkpoints/``, macOS's ``._photo.jpg`` and ``.DS_Store`` are not data."""
    return not entry.name.startswith(".")


def class_folders(root: Path) -> list[Path]:
    """The sub-folders of ``root`` that can be classes, sorted by name (hidden ones left out)."""
    return sorted(p for p in root.iterdir() if p.is_dir() and visible(p))


def picture_files(folder: Path) -> list[Path]:
    """The pictures straight in ``folder`` (by suffix, ``IMAGE_SUFFIXES``), sorted; hidden files
    left out. The one rule every folder reader here (datasets, picture folders, transfer) uses."""
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in IMAGE_SUFFIXES and visible(p) and p.is_file())


def _folder_listing(root: Path) -> tuple[tuple[str, ...], list[tuple[Path, int]]]:
    if not root.is_dir():
        raise FileNotFoundError(
            f"data folder {root} does not exist. Give a folder in ImageFolder layout "
            "(one sub-folder per class, images inside), e.g. --data-dir ~/data/cifar10")
    classes = tuple(p.name for p in class_folders(root))
    files = [(p, i) for i, c in enumerate(classes) for p in picture_files(root / c)]
    if not files:
        found = "it is empty" if not any(root.iterdir()) else "no images found there"
        raise FileNotFoundError(
            f"{root}: {found}; expected one sub-folder per class with "
            f"{', '.join(IMAGE_SUFFIXES)} files inside (ImageFolder layout)")
    empty = sorted(set(classes) - {p.parent.name for p, _ in files})
    if empty:  # a class the net would be built for but never shown: an unfinished copy, usually
        raise FileNotFoundError(
            f"{root}: the class folder{'s' if len(empty) > 1 else ''} {', '.join(empty[:5])} "
            f"{'hold' if len(empty) > 1 else 'holds'} no images ({', '.join(IMAGE_SUFFIXES)}); "
            "copy its images there or remove the folder")
    return classes, files


def _unchanged(root: Path, unreadable: list) -> bool:
    """Whether the files a cache found unreadable are still there, as they were."""
    for rel, _, size, mtime in unreadable:
        try:
            st = (root / rel).stat()
        except OSError:
            return False
        if (st.st_size, st.st_mtime_ns) != (size, mtime):
            return False
    return True


def load_image_folder(root, size: int = 32, skip_bad: bool = False) -> TensorDataset:
    """Decode a small ImageFolder tree once (cached on disk) into a TensorDataset.

    Files that cannot be decoded are refused by path (``UnreadableImages``), or
    with ``skip_bad`` left out and counted on stderr.
    """

    root = Path(root).expanduser().resolve()
    classes, files = _folder_listing(root)
    key = hashlib.sha256(f"{root}|{size}|{len(files)}|{root.stat().st_mtime_ns}".encode())
    for p, _ in files[:: max(1, len(files) // 64)]:
        key.update(f"{p.name}{p.stat().st_size}".encode())
    cached = cache_dir() / f"folder-{key.hexdigest()[:16]}.pt"
    # The cache holds the readable images and the list of unreadable ones, the
    # same whether or not this run skips them: the choice is made after, below,
    # so a cache written while skipping never lets a later run skip silently.
    d = None
    if cached.exists():
        try:
            d = torch.load(cached, weights_only=True)
            if not _unchanged(root, d.get("unreadable", [])):
                d = None  # a listed file was replaced or removed: decode again
        except Exception:
            d = None
            cached.unlink(missing_ok=True)  # a damaged cache is rebuilt, never trusted
    if d is None:
        d = _decode(root, classes, files, size)
        # Through a temporary file of its own, then renamed: DDP ranks that decode
        # the same folder at once never collide, and no reader sees half a file.
        save_atomic(d, cached)
    report(root, d.get("unreadable", []), len(files), skip_bad)
    return TensorDataset(d["images"], d["labels"], tuple(d["classes"]))


def _decode(root: Path, classes: tuple, files: list, size: int) -> dict:
    """The cache's contents: readable images (N, 3, size, size) uint8, their labels,
    and [relative path, why, size, mtime] of every file that cannot be decoded."""
    from PIL import Image
    from tqdm import tqdm

    images = torch.empty(len(files), 3, size, size, dtype=torch.uint8)
    readable = torch.ones(len(files), dtype=torch.bool)
    unreadable = []
    for j, (p, _) in enumerate(tqdm(files, desc=f"decoding {root.name}", unit="img")):
        try:
            im = open_rgb(p)
        except Exception as e:  # PIL raises many kinds for damaged files; all are the data's fault
            readable[j] = False
            try:
                info = p.stat()
                st = (info.st_size, info.st_mtime_ns)
            except OSError:  # gone while we read: the next run decodes again (see _unchanged)
                st = (-1, -1)
            unreadable.append([str(p.relative_to(root)), why(p, e), *st])
            continue
        if im.size != (size, size):
            im = im.resize((size, size), Image.BILINEAR)
        images[j] = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(
            size, size, 3).permute(2, 0, 1)
    labels = torch.tensor([i for _, i in files], dtype=torch.int64)
    if unreadable:
        images, labels = images[readable], labels[readable]
    return {"images": images, "labels": labels, "classes": list(classes), "unreadable": unreadable}


def hold_out(data: TensorDataset, n: int, seed: int) -> tuple[TensorDataset, TensorDataset]:
    """(the rest, ``n`` held-out images): a split of ``data`` fixed by ``seed``.

    Both keep the images' original order; the held-out ones are chosen by a
    seeded permutation, so the same (data, n, seed) always gives the same split.
    """
    if not 0 < n < len(data):
        raise ValueError(f"cannot hold out {n} of {len(data)} images: give 0 < n < {len(data)}")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    held, rest = order[:n].sort().values, order[n:].sort().values
    return (TensorDataset(data.images[rest], data.labels[rest], data.classes),
            TensorDataset(data.images[held], data.labels[held], data.classes))


def load_cifar10(data_dir=None, train: bool = True, download: bool = False,
                 skip_bad: bool = False) -> TensorDataset:
    """CIFAR-10 from an ImageFolder tree (``train/``, ``test/``) or torchvision's archive.

    ``data_dir`` (default: ``default_data_dir()``) may hold ``train/`` and
    ``test/`` class folders of images (e.g. a JPEG export of CIFAR-10), or
    torchvision's ``cifar-10-batches-py``; with ``download=True`` torchvision
    fetches the archive there. It may also name the embedded sample
    (``alexnet.sample.SAMPLE_FILE``, 3,000 images). ``skip_bad``: see
    ``load_image_folder``.
    """
    split = "train" if train else "test"
    root = Path(data_dir).expanduser() if data_dir else default_data_dir()
    from .sample import is_sample, load_sample  # the embedded sample (alexnet/sample.py)

    if is_sample(root):
        ds = load_sample(root, train=train)
    elif (root / split).is_dir():
        ds = load_image_folder(root / split, skip_bad=skip_bad)
    else:
        ds = _torchvision_cifar10(root, train, download)
    if ds.classes != CIFAR10_CLASSES:
        raise ValueError(f"{root / split} has classes {ds.classes}; CIFAR-10 needs {CIFAR10_CLASSES}")
    return ds


CIFAR10_LAYOUT = ("train/<class>/ and test/<class>/ image folders, or torchvision's "
                  "cifar-10-batches-py/ folder")


def _torchvision_cifar10(root: Path, train: bool, download: bool) -> TensorDataset:
    """CIFAR-10 from torchvision's archive in ``root``; errors name what is missing there."""
    import torchvision

    split, other = ("train", "test") if train else ("test", "train")
    archive = root / "cifar-10-batches-py"
    get = ("point --data-dir at a folder holding " + CIFAR10_LAYOUT +
           ", e.g. tar -xzf cifar10-jpeg.tar.gz -C ~/data && --data-dir ~/data/cifar10")
    if not archive.is_dir() and not download:  # say what is there; the network is not the answer
        if not root.is_dir():
            raise FileNotFoundError(f"CIFAR-10 folder {root} does not exist: {get} "
                                    "(or pass --download on a machine with internet)")
        if (root / other).is_dir():
            raise FileNotFoundError(f"{root} has {other}/ but no {split}/ folder: CIFAR-10 needs "
                                    f"{split}/<class>/ images there too, next to {other}/")
        entries = sorted(p.name for p in root.iterdir())
        if not entries:
            raise FileNotFoundError(f"CIFAR-10 folder {root} is empty: it should hold {CIFAR10_LAYOUT}. "
                                    "Extract the dataset there, or pass --download on a machine "
                                    "with internet")
        raise FileNotFoundError(f"{root} holds no CIFAR-10: expected {CIFAR10_LAYOUT}, found "
                                f"{', '.join(entries[:5])}{', ...' if len(entries) > 5 else ''}")
    try:
        tv = torchvision.datasets.CIFAR10(str(root), train=train, download=download)
    except Exception as e:  # offline; or the archive's files fail their md5 checks
        if archive.is_dir() and not download:
            raise ValueError(f"torchvision's CIFAR-10 archive {archive} is incomplete or damaged "
                             "(its files fail their checksums): delete that folder and extract "
                             "cifar-10-python.tar.gz again, or pass --download") from None
        raise FileNotFoundError(f"CIFAR-10 could not be fetched into {root} ({type(e).__name__}: "
                                f"{str(e)[:120]}): {get}") from None
    images = torch.from_numpy(tv.data).permute(0, 3, 1, 2).contiguous()
    return TensorDataset(images, torch.tensor(tv.targets), tuple(tv.classes))


def normalize(images: torch.Tensor, mean=CIFAR10_MEAN, std=CIFAR10_STD) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> standardised float32."""
    return standardise(images.float() / 255.0, mean, std)


def standardise(images: torch.Tensor, mean=CIFAR10_MEAN, std=CIFAR10_STD) -> torch.Tensor:
    """float (N, 3, H, W) in [0, 1] -> (x - mean) / std per channel."""
    m = torch.tensor(mean, device=images.device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=images.device).view(1, 3, 1, 1)
    return (images - m) / s


class BatchIterator:
    """Shuffled, augmented batches of a TensorDataset; the same seed and epoch
    give the same batches, so a resumed run sees exactly what it would have.

    ``rank``/``world`` shard every epoch's permutation for DDP.

    ``augment``: "crop-flip" (AK 4.1 at CIFAR scale) or "photo" (wider scale,
    colour and focus changes; ``alexnet.photo_augment``). ``cutout``: the side
    of a square blanked in every training image after that (0: none;
    ``alexnet.crops.cutout``).
    """

    def __init__(self, data: TensorDataset, batch_size: int, *, train: bool, seed: int = 0,
                 rank: int = 0, world: int = 1, mean=CIFAR10_MEAN, std=CIFAR10_STD,
                 augment: str = "crop-flip", cutout: int = 0):
        if len(data) == 0:
            raise ValueError("the dataset is empty")
        if augment not in AUGMENTS:
            raise ValueError(f"unknown augmentation {augment!r}; choose from {', '.join(AUGMENTS)}")
        self.data, self.batch_size, self.train = data, batch_size, train
        self.seed, self.rank, self.world, self.mean, self.std = seed, rank, world, mean, std
        self.augment, self.pca, self.cutout = augment, None, cutout
        if train and augment == "photo":
            from .photo_augment import rgb_pca

            self.pca = rgb_pca(data.images)  # AK 4.1: the training set's RGB covariance

    def __len__(self) -> int:
        per_rank = len(self.data) // self.world if self.train else len(self.data)
        return max(1, -(-per_rank // self.batch_size))

    def epoch(self, epoch: int):
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        n = len(self.data)
        if self.train:
            order = torch.randperm(n, generator=g)
            per_rank = n // self.world  # every rank takes the same number of steps
            order = order[self.rank * per_rank:(self.rank + 1) * per_rank]
            if self.rank:  # its own crops and flips; rank 0 keeps the one-process stream
                g = torch.Generator().manual_seed(self.seed * 100_003 + epoch + 7_919 * self.rank)
        else:
            order = torch.arange(n)
        # Cutout draws from its own stream: with it or without, every other draw is the same.
        squares = torch.Generator().manual_seed(self.seed * 100_003 + epoch + 50_021 * (self.rank + 1))
        for i in range(0, len(order), self.batch_size):
            idx = order[i:i + self.batch_size]
            x = self.data.images[idx]
            if not self.train:
                yield normalize(x, self.mean, self.std), self.data.labels[idx]
                continue
            if self.pca is not None:
                from .photo_augment import photo_augment

                x = standardise(photo_augment(x, g, *self.pca), self.mean, self.std)
            else:
                x = normalize(random_crop_flip(x, g), self.mean, self.std)
            if self.cutout:
                x = cutout(x, self.cutout, squares)
            yield x, self.data.labels[idx]


def normalised_black(mean=CIFAR10_MEAN, std=CIFAR10_STD) -> tuple[float, ...]:
    """The value a black pixel takes after ``normalize``."""
    return tuple(-m / s for m, s in zip(mean, std))
