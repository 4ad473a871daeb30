"""AK 4.1's crops: random crops and mirror images in training, the ten crops at test time; and cutout,
a later regulariser.

Whole batches in torch, no Python loop per image; ``alexnet.data`` and the
experiments crop with them, ``alexnet.predict`` and ``alexnet.evaluate`` average over
the ten.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop_flip(images: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """CIFAR-scale AK 4.1: random crops of a zero-padded image, and mirror images.

    Takes and returns a (N, C, H, W) batch; one gather, no Python loop.
    """
    n, c, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    rows = (dy[:, None] + torch.arange(h)[None]).to(images.device)  # (N, H)
    cols = torch.arange(w)[None].expand(n, w)
    cols = torch.where(flip[:, None], w - 1 - cols, cols) + dx[:, None]  # (N, W)
    cols = cols.to(images.device)
    idx_n = torch.arange(n, device=images.device)[:, None, None, None]
    idx_c = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[idx_n, idx_c, rows[:, None, :, None], cols[:, None, None, :]]


def cutout(images: torch.Tensor, side: int, generator: torch.Generator) -> torch.Tensor:
    """Cutout (DeVries and Taylor, 2017): a ``side`` x ``side`` square of each image
    set to 0, the dataset mean once the batch is standardised. Its centre is any
    pixel, so squares near the border are clipped, as in the paper.

    Takes a standardised (N, C, H, W) batch and returns a new one.
    """
    n, _, h, w = images.shape
    cy = torch.randint(0, h, (n,), generator=generator).to(images.device)
    cx = torch.randint(0, w, (n,), generator=generator).to(images.device)
    ys = torch.arange(h, device=images.device)[None] - cy[:, None] + side // 2  # (N, H)
    xs = torch.arange(w, device=images.device)[None] - cx[:, None] + side // 2  # (N, W)
    inside = ((ys >= 0) & (ys < side))[:, :, None] & ((xs >= 0) & (xs < side))[:, None, :]
    return images.masked_fill(inside[:, None], 0.0)


def ten_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """AK 4.1 test: 4 corners + centre and their mirrors, (N, C, H, W) -> (N, 10, C, s, s).

    Order: top-left, top-right, bottom-left, bottom-right, centre, then the
    same five of the horizontally flipped image (torchvision's ``TenCrop``).
    """
    from torchvision.transforms.v2 import functional as TF

    if min(images.shape[-2:]) < size:
        raise ValueError(f"images of {tuple(images.shape[-2:])} are smaller than the crop {size}")
    return torch.stack(TF.ten_crop(images, [size, size]), dim=1)


def cifar_ten_crop(images: torch.Tensor, pad: int = 2, fill=None) -> torch.Tensor:
    """CIFAR-scale 10-crop: the crops of a padded 32x32 image (train-time geometry).

    Training pads uint8 images with black; for batches that are already
    normalised pass ``fill`` = the normalised black, ``-mean / std`` per channel.
    """
    if fill is None:
        return ten_crop(F.pad(images, (pad, pad, pad, pad)), images.shape[-1])
    f = torch.as_tensor(fill, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    return ten_crop(F.pad(images - f, (pad, pad, pad, pad)) + f, images.shape[-1])
