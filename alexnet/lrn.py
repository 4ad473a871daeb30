"""Local response normalisation (AK 3.3), fast on the CPU.

    b_c = a_c / (k + alpha/n * sum_{c' in window(c)} a_{c'}^2) ** beta

Alpha convention: like Krizhevsky's cuda-convnet and
``torch.nn.LocalResponseNorm``, alpha is divided by the window size n. The
paper's printed formula does not divide; to get it, pass ``alpha * n``.

``nn.LocalResponseNorm`` builds the window sum from pad + avg_pool3d and lets
autograd differentiate the chain, which costs many passes over memory. Here
the window sum is one banded matrix product over the channel axis, the power
``d ** -0.75`` is ``rsqrt(d * sqrt(d))``, and the backward pass is written
out by hand:

    dL/da_c = g_c * d_c^-beta
              - (2 alpha beta / n) * a_c * sum_{j: c in window(j)} g_j a_j d_j^(-beta-1)

``groups`` keeps the window inside each tower: on the paper's two GPUs each
tower normalised only its own kernel maps.
"""

from __future__ import annotations

import torch
from torch import nn


def _band(channels: int, size: int, device, dtype) -> torch.Tensor:
    """(C, C) 0/1 matrix: row c has ones at the channels summed for output c.

    Same window as nn.LocalResponseNorm: size//2 channels before, (size-1)//2 after.
    """
    idx = torch.arange(channels, device=device)
    offset = idx[None, :] - idx[:, None]  # column - row
    return ((offset >= -(size // 2)) & (offset <= (size - 1) // 2)).to(dtype)


def _window_sum(x: torch.Tensor, band: torch.Tensor) -> torch.Tensor:
    # Towers never share a window, so each tower is its own block:
    # (C/G, C/G) @ (N*G, C/G, H*W), one BLAS call for the whole window.
    per_group = band.shape[0]
    return torch.matmul(band, x.reshape(-1, per_group, x[0, 0].numel())).view_as(x)


class _LRNFunction(torch.autograd.Function):
    # Every fresh large tensor costs a page-faulting first touch on the CPU,
    # so both passes allocate as little as they can and work in place.
    @staticmethod
    def forward(ctx, x, size, alpha, beta, k, groups):
        band = _band(x.shape[1] // groups, size, x.device, x.dtype)
        s = x * x
        d = _window_sum(s, band).mul_(alpha / size).add_(k)  # (N, C, H, W)
        if beta == 0.75:  # the paper's beta: two square roots beat exp(log(.))
            r = torch.sqrt(d, out=s).mul_(d).rsqrt_()  # d^-0.75, reusing s
        else:
            r = torch.pow(d, -beta, out=s)
        y = x * r
        q = d.reciprocal_().mul_(r)  # d^(-beta-1), all backward needs besides r
        ctx.save_for_backward(x, r, q, band)
        ctx.coef = 2.0 * alpha * beta / size
        return y

    @staticmethod
    def backward(ctx, grad):
        x, r, q, band = ctx.saved_tensors
        t = (grad * x).mul_(q)  # g_j a_j d_j^(-beta-1)
        # The transposed band sums over the outputs j whose window holds c.
        t = _window_sum(t, band.t().contiguous())
        dx = (grad * r).addcmul_(x, t, value=-ctx.coef)
        return dx, None, None, None, None, None


def local_response_norm(
    x: torch.Tensor, size: int = 5, alpha: float = 1e-4, beta: float = 0.75,
    k: float = 2.0, groups: int = 1,
) -> torch.Tensor:
    """LRN across channels of a (N, C, H, W) tensor; see the module docstring."""
    if x.dim() != 4:
        raise ValueError(f"local_response_norm expects (N, C, H, W), got shape {tuple(x.shape)}")
    if x.shape[1] % groups:
        raise ValueError(f"{x.shape[1]} channels cannot be split into {groups} towers")
    return _LRNFunction.apply(x, size, alpha, beta, k, groups)


class LocalResponseNorm(nn.Module):
    """Drop-in, faster ``nn.LocalResponseNorm`` with an optional per-tower window."""

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75,
                 k: float = 2.0, groups: int = 1):
        super().__init__()
        self.size, self.alpha, self.beta, self.k, self.groups = size, alpha, beta, k, groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k, self.groups)

    def extra_repr(self) -> str:
        return (f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}, "
                f"groups={self.groups}")
