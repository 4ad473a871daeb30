"""Photo-style augmentation for small images, a whole batch at a time.

AK 4.1 trains on random crops, mirror images and PCA colour noise. A net
that only ever sees CIFAR-10's framing is confidently wrong on ordinary
photos (objects at other scales, softer focus, other colour balance), so
``--augment photo`` widens each of those three:

- scale and aspect: a random crop covering 55-100% of the image with aspect
  3/4..4/3, resized back to 32x32 (torchvision's RandomResizedCrop idea),
  shifted by up to 4 px past the border as the padded crop does;
- mirror images, as AK 4.1;
- colour: brightness, contrast and saturation each scaled by U(0.7, 1.3),
  then AK 4.1's PCA colour noise (the same convention as
  ``alexnet.augment.PCALighting``: eigenvalues in [0, 1] pixel units);
- focus: one image in five is blurred (Gaussian, sigma U(0.4, 1.2) px).

Every draw comes from the caller's ``torch.Generator``, so the same seed and
epoch give the same batches (a resumed run repeats itself exactly).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SCALE = (0.55, 1.0)  # share of the image's area a crop covers
ASPECT = (3 / 4, 4 / 3)
SHIFT = 4 / 32  # up to 4 px past the border, in units of the image side
JITTER = 0.3  # brightness, contrast, saturation factors in 1 +- JITTER
PCA_STD = 0.1  # AK 4.1's alpha ~ N(0, 0.1)
BLUR_P, BLUR_SIGMA = 0.2, (0.4, 1.2)
GREY = torch.tensor([0.299, 0.587, 0.114])  # ITU-R 601 luma


def rgb_pca(images: torch.Tensor, max_images: int = 10_000) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (3,) descending and eigenvectors (3, 3) as columns of the RGB
    covariance of uint8 (N, 3, H, W) images, pixels in [0, 1] (AK 4.1)."""
    px = images[:max_images].permute(1, 0, 2, 3).reshape(3, -1).double() / 255  # (3, P)
    cov = torch.cov(px)
    eigvals, eigvecs = torch.linalg.eigh(cov)  # ascending
    return eigvals.flip(0).float(), eigvecs.flip(1).float()


def pca_offsets(n: int, g: torch.Generator, eigvals: torch.Tensor, eigvecs: torch.Tensor,
                std: float = PCA_STD) -> torch.Tensor:
    """AK 4.1's colour noise for ``n`` images: (N, 3) RGB offsets ``V (alpha * lam)``,
    alpha ~ N(0, std) drawn per image from ``g``; add one to every pixel of its image."""
    alpha = torch.randn(n, 3, generator=g) * std
    return (alpha * eigvals) @ eigvecs.T  # (N, 3)


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _crops(n: int, g: torch.Generator) -> torch.Tensor:
    """(N, 2, 3) affine maps from output to input coordinates in [-1, 1]."""
    area = _uniform(n, *SCALE, g)
    aspect = torch.exp(_uniform(n, math.log(ASPECT[0]), math.log(ASPECT[1]), g))
    w = torch.sqrt(area * aspect).clamp(max=1.0)  # crop side / image side
    h = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (2 * torch.rand(n, generator=g) - 1) * (1 - w + 2 * SHIFT)  # centre, [-1, 1] units
    cy = (2 * torch.rand(n, generator=g) - 1) * (1 - h + 2 * SHIFT)
    flip = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    return theta


def _colour(x: torch.Tensor, g: torch.Generator, eigvals, eigvecs) -> torch.Tensor:
    """Brightness, contrast, saturation, then PCA noise; x float (N, 3, H, W) in [0, 1]."""
    n = x.shape[0]
    b, c, s = (_uniform(n, 1 - JITTER, 1 + JITTER, g).view(n, 1, 1, 1) for _ in range(3))
    x = x * b
    luma = GREY.to(x.device).view(1, 3, 1, 1)
    b, c, s = b.to(x.device), c.to(x.device), s.to(x.device)
    grey = (x * luma).sum(1, keepdim=True)  # (N, 1, H, W)
    x = grey.mean((2, 3), keepdim=True) + c * (x - grey.mean((2, 3), keepdim=True))
    grey = (x * luma).sum(1, keepdim=True)
    x = grey + s * (x - grey)
    offset = pca_offsets(n, g, eigvals.cpu(), eigvecs.cpu()).to(x.device)  # (N, 3), AK 4.1
    return x + offset[:, :, None, None]


def _blur(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A Gaussian blur of random width on a random fifth of the batch.

    Separable, as two batched matrix products with each image's (H, H) and
    (W, W) kernel matrices (rows renormalised at the border): one call for
    the whole batch, where a grouped conv with a kernel per image is slow.
    """
    n, c, h, w = x.shape
    pick = (torch.rand(n, generator=g) < BLUR_P).nonzero().flatten()
    if len(pick) == 0:
        return x
    sigma = _uniform(len(pick), *BLUR_SIGMA, g).to(x.device).view(-1, 1, 1)  # (M, 1, 1)

    def kernel(side: int) -> torch.Tensor:  # (M, side, side)
        d = torch.arange(side, dtype=x.dtype, device=x.device)
        k = torch.exp(-(d[:, None] - d[None]) ** 2 / (2 * sigma ** 2))
        return k / k.sum(2, keepdim=True)

    out = x.clone()
    pick = pick.to(x.device)
    out[pick] = kernel(h)[:, None] @ x[pick] @ kernel(w)[:, None].transpose(-1, -2)
    return out


def photo_augment(images: torch.Tensor, g: torch.Generator, eigvals: torch.Tensor,
                  eigvecs: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float (N, 3, H, W) in [0, 1], augmented as the module says."""
    x = images.float() / 255
    grid = F.affine_grid(_crops(len(x), g).to(x.device), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    x = _colour(x, g, eigvals.to(x.device), eigvecs.to(x.device))
    return _blur(x, g).clamp(0, 1)
