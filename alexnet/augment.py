"""The paper's ImageNet pipeline (AK 2, 4.1) on torchvision transforms, and a
streaming ImageFolder loader for folders too big to hold in memory.

    train: shorter side 256 -> centre 256x256 -> random 224x224 crop + mirror
           -> [0, 1] -> PCA colour noise -> standardise
    test:  shorter side 256 -> centre 224x224 (single crop), or centre
           256x256 then ``ten_crop`` (4 corners + centre, and mirrors)

PCA colour augmentation (AK 4.1): to every pixel of an image add
``V @ (alpha * lam)``, V the eigenvectors and lam the eigenvalues of the 3x3
RGB covariance of the training set, alpha ~ N(0, 0.1) drawn per image each
time it is used. We take lam in [0, 1] pixel units, as the paper prints it
(eigenvalues, not their square roots as some re-implementations use), so the
offsets' covariance is ``V diag(0.1^2 lam^2) V^T``.
"""

from __future__ import annotations

import hashlib
from functools import partial
from pathlib import Path

import torch
from torch import nn

from .checkpoint import save_atomic
from .crops import ten_crop
from .data import IMAGENET_MEAN, IMAGENET_STD, cache_dir
from .unreadable import ReadableOnly, collate, report, why

RESIZE = 256  # AK 2: shorter side, then the central 256x256 patch
CROP = 224


class PCALighting(nn.Module):
    """AK 4.1 colour noise on float images in [0, 1], (3, H, W) or (N, 3, H, W)."""

    def __init__(self, eigvals: torch.Tensor, eigvecs: torch.Tensor, std: float = 0.1):
        super().__init__()
        self.register_buffer("eigvals", torch.as_tensor(eigvals, dtype=torch.float32))  # (3,)
        self.register_buffer("eigvecs", torch.as_tensor(eigvecs, dtype=torch.float32))  # (3, 3), columns
        self.std = std

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        batch = image.dim() == 4
        x = image if batch else image[None]  # (N, 3, H, W)
        alpha = torch.randn(x.shape[0], 3, device=x.device) * self.std  # a fresh draw every use
        offset = (alpha * self.eigvals.to(x.device)) @ self.eigvecs.to(x.device).T  # (N, 3) = V (a*lam)
        out = x + offset.to(x.dtype)[:, :, None, None]
        return out if batch else out[0]

    def extra_repr(self) -> str:
        return f"std={self.std}, eigvals={[round(v, 5) for v in self.eigvals.tolist()]}"


def train_transform(eigvals, eigvecs, mean=IMAGENET_MEAN, std=IMAGENET_STD, crop: int = CROP):
    """PIL image -> (3, crop, crop) float: the paper's training augmentation."""
    from torchvision.transforms import v2 as T

    return T.Compose([T.ToImage(), T.Resize(RESIZE), T.CenterCrop(RESIZE), T.RandomCrop(crop),
                      T.RandomHorizontalFlip(), T.ToDtype(torch.float32, scale=True),
                      PCALighting(eigvals, eigvecs), T.Normalize(mean, std)])


def test_transform(crop: int = CROP, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """PIL image -> (3, crop, crop): centre crop of the 256-side image.

    ``crop=256`` keeps the whole 256x256 patch for ``folder_ten_crop``.
    """
    from torchvision.transforms import v2 as T

    return T.Compose([T.ToImage(), T.Resize(RESIZE), T.CenterCrop(crop),
                      T.ToDtype(torch.float32, scale=True), T.Normalize(mean, std)])


def folder_ten_crop(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, 256, 256) -> (N, 10, 3, 224, 224), the AK 4.1 test crops."""
    return ten_crop(images, CROP)


def open_image_folder(root, transform=None):
    """torchvision ``ImageFolder`` with errors that say what the layout should be."""
    from torchvision.datasets import ImageFolder

    root = Path(root).expanduser()
    layout = "one sub-folder per class with the images inside (ImageFolder layout, like ImageNet's train/)"
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist; it should hold {layout}")
    if not any(p.is_dir() for p in root.iterdir()):
        raise FileNotFoundError(f"{root} has no class sub-folders; it should hold {layout}")
    try:
        return ImageFolder(str(root), transform=transform)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"no images found in the class folders of {root} ({e}); it should "
                                f"hold {layout}, with .jpg/.jpeg/.png/.webp/.bmp files") from None


def pca_basis(root, samples: int = 1000, seed: int = 0,
              skip_bad: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (3,) descending and eigenvectors (3, 3) as columns of the RGB
    covariance over ``samples`` random training images (the 256x256 centre
    patches, pixels in [0, 1]). Computed once, then read from ``cache_dir()``.
    Unreadable images among them are refused, or left out with ``skip_bad``."""
    from torchvision.transforms import v2 as T

    data = open_image_folder(root)
    key = hashlib.sha256(f"{Path(root).expanduser().resolve()}|{len(data)}|{samples}|{seed}".encode())
    cached = cache_dir() / f"pca-{key.hexdigest()[:16]}.pt"
    if cached.exists():
        try:
            d = torch.load(cached, weights_only=True)
            return d["eigvals"], d["eigvecs"]
        except Exception:
            cached.unlink(missing_ok=True)  # damaged: recompute
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:samples]
    patch = T.Compose([T.ToImage(), T.Resize(RESIZE), T.CenterCrop(RESIZE),
                       T.ToDtype(torch.float64, scale=True)])
    s1, s2, n = torch.zeros(3, dtype=torch.float64), torch.zeros(3, 3, dtype=torch.float64), 0
    bad = []
    for i in pick.tolist():
        path = data.samples[i][0]
        try:
            image = data.loader(path)
        except Exception as e:  # a damaged file: reported with the others below
            bad.append((str(Path(path).relative_to(data.root)), why(path, e)))
            continue
        px = patch(image).reshape(3, -1)  # (3, 65536)
        s1 += px.sum(1)
        s2 += px @ px.T
        n += px.shape[1]
    report(data.root, bad, len(pick), skip_bad, noun="images sampled for the colour PCA")
    mean = s1 / n
    cov = s2 / n - torch.outer(mean, mean)  # (3, 3) RGB covariance
    eigvals, eigvecs = torch.linalg.eigh(cov)  # ascending
    eigvals, eigvecs = eigvals.flip(0).float(), eigvecs.flip(1).float()
    save_atomic({"eigvals": eigvals, "eigvecs": eigvecs, "images": n // RESIZE ** 2}, cached)
    return eigvals, eigvecs


def _reseed_worker(worker_id: int, rank: int) -> None:
    """DDP shares one base seed across ranks; keep the ranks' augmentations apart."""
    torch.manual_seed((torch.initial_seed() + 1_000_003 * rank) % 2 ** 63)


class FolderStream:
    """Batches of an ImageFolder decoded by DataLoader workers, like ``BatchIterator``:
    ``len()`` steps per epoch, ``epoch(e)`` yields (images, labels), and the same
    (seed, epoch, rank) give the same batches. ``rank``/``world`` shard for DDP.

    Images that cannot be decoded are collected as the pass goes; at its end
    they are refused by path (``UnreadableImages``), or with ``skip_bad`` left
    out of their batches and counted on stderr (once per file)."""

    def __init__(self, root, batch_size: int, transform, *, train: bool, seed: int = 0,
                 rank: int = 0, world: int = 1, workers: int = 4, limit: int = 0,
                 skip_bad: bool = False):
        self.data = open_image_folder(root, transform)
        self.skip_bad, self.reported = skip_bad, set()
        self.classes = tuple(self.data.classes)
        self.indices = torch.arange(len(self.data))
        if limit:  # a seeded random subset: ImageFolder lists its images class by class
            self.indices = torch.randperm(len(self.data), generator=torch.Generator().manual_seed(seed))[:limit]
        self.batch_size, self.train, self.seed = batch_size, train, seed
        self.rank, self.world, self.workers = rank, world, workers

    def __len__(self) -> int:
        per_rank = len(self.indices) // self.world if self.train else len(self.indices)
        return max(1, -(-per_rank // self.batch_size))

    def epoch(self, epoch: int):
        from torch.utils.data import DataLoader, Subset

        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        order = self.indices
        if self.train:
            per_rank = len(order) // self.world
            order = order[torch.randperm(len(order), generator=g)][self.rank * per_rank:(self.rank + 1) * per_rank]
        loader = DataLoader(Subset(ReadableOnly(self.data), order.tolist()), self.batch_size,
                            shuffle=False, num_workers=self.workers, generator=g, collate_fn=collate,
                            worker_init_fn=partial(_reseed_worker, rank=self.rank),
                            pin_memory=torch.cuda.is_available())
        bad = []
        for images, labels, unreadable in loader:
            bad += unreadable
            if images is not None:
                yield images, labels
        new = sorted((str(Path(p).relative_to(self.data.root)), w)
                     for p, w in bad if p not in self.reported)
        report(self.data.root, new, len(order), self.skip_bad)  # raises unless skipping
        self.reported.update(p for p, _ in bad)
