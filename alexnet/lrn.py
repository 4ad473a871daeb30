"""Local response normalisation (AK 3.3), fast on the CPU.

    b_c = a_c / (k + alpha/n * sum_{c' in window(c)} a_{c'}^2) ** beta

Alpha convention: like Krizhevsky's cuda-convnet and
``torch.nn.LocalResponseNorm``, alpha is divided by the window size n. The
paper's printed formula does not divide; to get it, pass ``alpha * n``.

Why it is fast. ``nn.LocalResponseNorm`` builds the window sum from pad +
avg_pool3d and lets autograd differentiate the chain: about a dozen full-size
temporaries per step. On the CPU every fresh large tensor pays a page fault
per 4 KiB on first touch, which costs more than the arithmetic. Here:

- the tensor is processed in blocks of about ``_BLOCK_BYTES`` that stay in
  the L2 cache, with a few small scratch buffers reused for every block;
- the window sum is n-1 shifted in-place adds along the channel axis;
- ``d ** -0.75`` is ``rsqrt(d * sqrt(d))`` (``pow`` is not vectorised);
- only the input is saved: the backward pass recomputes the denominator
  block by block (cheaper than storing it) and is written out by hand:

    dL/da_c = g_c d_c^-beta
              - (2 alpha beta / n) a_c sum_{j: c in window(j)} g_j a_j d_j^(-beta-1)

So a forward allocates one full-size tensor (the output) and a backward one
(the gradient). ``groups`` keeps the window inside each tower: on the
paper's two GPUs each tower normalised only its own kernel maps.
"""

from __future__ import annotations

import torch
from torch import nn

_BLOCK_BYTES = 128 * 1024  # one block of the input; five such buffers fit in L2


def _blocks(batch: int, channels: int, length: int, itemsize: int):
    """Yield (row slice, column slice) blocks of a (batch, channels, length) view."""
    per_row = channels * length * itemsize
    if per_row <= _BLOCK_BYTES:  # whole rows: (rows, C, L) blocks
        rows = _BLOCK_BYTES // per_row
        for b in range(0, batch, rows):
            yield slice(b, min(b + rows, batch)), slice(None)
    else:  # one row, split along the spatial axis: (1, C, width) blocks
        width = max(1, _BLOCK_BYTES // (channels * itemsize))
        for b in range(batch):
            for p in range(0, length, width):
                yield slice(b, b + 1), slice(p, min(p + width, length))


def _shifts(size: int, channels: int, transpose: bool):
    """Channel offsets o != 0 with out[c] += in[c + o], clipped to the tensor.

    The window of output c is c - size//2 .. c + (size-1)//2, as in
    nn.LocalResponseNorm; the transpose (for backward) mirrors it.
    """
    lo, hi = size // 2, (size - 1) // 2
    offsets = range(-hi, lo + 1) if transpose else range(-lo, hi + 1)
    return [o for o in offsets if o != 0 and abs(o) < channels]


def _window_sum_(out: torch.Tensor, src: torch.Tensor, shifts) -> torch.Tensor:
    """out += sum over shifts of src shifted along dim 1; (B, C, L) blocks."""
    c = src.shape[1]
    for o in shifts:
        if o > 0:
            out[:, : c - o].add_(src[:, o:])
        else:
            out[:, -o:].add_(src[:, : c + o])
    return out


class _Scratch:
    """Small buffers reused for every block (no page faults after the first)."""

    def __init__(self, like: torch.Tensor, shape, count: int):
        n = 1
        for s in shape:
            n *= s
        self.flat = [torch.empty(n, dtype=like.dtype, device=like.device) for _ in range(count)]

    def take(self, shape):
        n = 1
        for s in shape:
            n *= s
        return [f[:n].view(shape) for f in self.flat]


def _denominator(xs, s, d, r, size, alpha, beta, k, shifts):
    """d = k + alpha/n * window sum of xs^2 and r = d^-beta, written into d and r."""
    torch.mul(xs, xs, out=s).mul_(alpha / size)
    torch.add(s, k, out=d)
    _window_sum_(d, s, shifts)
    if beta == 0.75:  # the paper's beta
        torch.sqrt(d, out=r).mul_(d).rsqrt_()
    elif beta == 0.5:
        torch.rsqrt(d, out=r)
    else:  # exp(-beta log d): vectorised, unlike pow with a float exponent
        torch.log(d, out=r).mul_(-beta).exp_()


class _LRNFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, size, alpha, beta, k, groups):
        n, ch = x.shape[:2]
        xv = x.contiguous().view(n * groups, ch // groups, -1)  # (N*G, C/G, H*W)
        y = torch.empty_like(xv)
        fwd = _shifts(size, xv.shape[1], transpose=False)
        first = next(_blocks(*xv.shape, x.element_size()))
        scratch = _Scratch(x, xv[first].shape, 3)
        for rows, cols in _blocks(*xv.shape, x.element_size()):
            xs = xv[rows, :, cols]
            s, d, r = scratch.take(xs.shape)
            _denominator(xs, s, d, r, size, alpha, beta, k, fwd)
            torch.mul(xs, r, out=y[rows, :, cols])
        ctx.save_for_backward(x)
        ctx.args = (size, alpha, beta, k, groups)
        return y.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        size, alpha, beta, k, groups = ctx.args
        n, ch = x.shape[:2]
        xv = x.contiguous().view(n * groups, ch // groups, -1)
        gv = grad.contiguous().view_as(xv)
        dx = torch.empty_like(xv)
        fwd = _shifts(size, xv.shape[1], transpose=False)
        bwd = _shifts(size, xv.shape[1], transpose=True)
        coef = 2.0 * alpha * beta / size
        first = next(_blocks(*xv.shape, x.element_size()))
        scratch = _Scratch(x, xv[first].shape, 5)
        for rows, cols in _blocks(*xv.shape, x.element_size()):
            xs, gs = xv[rows, :, cols], gv[rows, :, cols]
            s, d, r, t, u = scratch.take(xs.shape)
            _denominator(xs, s, d, r, size, alpha, beta, k, fwd)
            torch.mul(gs, xs, out=t).mul_(r).div_(d)  # g_j a_j d_j^(-beta-1)
            _window_sum_(u.copy_(t), t, bwd)  # sum over the j whose window holds c
            torch.mul(gs, r, out=s)
            torch.addcmul(s, xs, u, value=-coef, out=dx[rows, :, cols])
        return dx.view_as(x), None, None, None, None, None


def local_response_norm(
    x: torch.Tensor, size: int = 5, alpha: float = 1e-4, beta: float = 0.75,
    k: float = 2.0, groups: int = 1,
) -> torch.Tensor:
    """LRN across channels of a (N, C, ...) tensor; see the module docstring."""
    if x.dim() < 3:
        raise ValueError(f"local_response_norm expects (N, C, H, W) or (N, C, L), got shape {tuple(x.shape)}")
    if size < 1 or groups < 1:
        raise ValueError(f"size and groups must be at least 1, got size={size}, groups={groups}")
    if x.shape[1] % groups:
        raise ValueError(f"{x.shape[1]} channels cannot be split into {groups} towers")
    if x.numel() == 0:
        return x * 1.0
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
