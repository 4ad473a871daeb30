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
  cache, with a few small scratch buffers reused for every block;
- the window sum is n-1 shifted in-place adds along the channel axis;
- ``d ** -0.75`` is ``rsqrt(d * sqrt(d))`` (``pow`` is not vectorised);
- only the input is saved: the backward pass recomputes the denominator
  block by block (cheaper than storing it) and is written out by hand:

    dL/da_c = g_c d_c^-beta
              - (2 alpha beta / n) a_c sum_{j: c in window(j)} g_j a_j d_j^(-beta-1)

So a forward allocates one full-size tensor (the output) and a backward one
(the gradient). ``groups`` keeps the window inside each tower: on the
paper's two GPUs each tower normalised only its own kernel maps.

A channels-last input (what ``analysis.experiments`` trains on: CPU
pooling and convs are faster so) takes another path: its (N*H*W, C) rows
are a view, and the window sum is one matmul with a (C, C) band matrix
(``_band``), differentiated by autograd. The blocked path would turn it
into NCHW and back, and the pool and conv after it would then run on the
slow layout: in the experiments' small AlexNet that made LRN most of a
training step (a step about 3x slower than with this path).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

_BLOCK_BYTES = 512 * 1024  # per block of the input: its scratch buffers stay in L2/L3


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


def _window_sum_(out: torch.Tensor, src: torch.Tensor, shifts, scale: float = 1.0) -> torch.Tensor:
    """out += scale * (src shifted along dim 1), summed over shifts; (B, C, L) blocks."""
    c = src.shape[1]
    for o in shifts:
        if o > 0:
            out[:, : c - o].add_(src[:, o:], alpha=scale)
        else:
            out[:, -o:].add_(src[:, : c + o], alpha=scale)
    return out


def _denominator(xs, d, r, size, alpha, beta, k, shifts):
    """d = k + alpha/n * window sum of xs^2 and r = d^-beta, written into d and r."""
    s = torch.mul(xs, xs, out=r)  # r holds a^2 until the window sum is done
    torch.add(k, s, alpha=alpha / size, out=d)  # k: a 0-d tensor
    _window_sum_(d, s, shifts, alpha / size)
    if beta == 0.75:  # the paper's beta
        torch.sqrt(d, out=r).mul_(d).rsqrt_()
    elif beta == 0.5:
        torch.rsqrt(d, out=r)
    else:  # exp(-beta log d): vectorised, unlike pow with a float exponent
        torch.log(d, out=r).mul_(-beta).exp_()


def _scratch(like: torch.Tensor, shape, count: int) -> list[torch.Tensor]:
    """Small buffers reused for every block (no page faults after the first)."""
    return [torch.empty(shape, dtype=like.dtype, device=like.device) for _ in range(count)]


def _fit(buffers, shape) -> list[torch.Tensor]:
    """The buffers cut down to a (smaller) last block."""
    if buffers[0].shape == shape:
        return buffers
    n = 1
    for s in shape:
        n *= s
    return [b.view(-1)[:n].view(shape) for b in buffers]


class _LRNFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, size, alpha, beta, k, groups):
        n, ch = x.shape[:2]
        xv = x.contiguous().view(n * groups, ch // groups, -1)  # (N*G, C/G, H*W)
        y = torch.empty_like(xv)
        shifts = _shifts(size, xv.shape[1], transpose=False)
        blocks = list(_blocks(*xv.shape, x.element_size()))
        buffers = _scratch(x, xv[blocks[0][0], :, blocks[0][1]].shape, 2)
        k_t = torch.tensor(k, dtype=x.dtype, device=x.device)
        for rows, cols in blocks:
            xs = xv[rows, :, cols]
            d, r = _fit(buffers, xs.shape)
            _denominator(xs, d, r, size, alpha, beta, k_t, shifts)
            torch.mul(xs, r, out=y[rows, :, cols])
        # Only x is saved (the ReLU before keeps it anyway); backward recomputes d.
        ctx.save_for_backward(x)
        ctx.args = (size, alpha, beta, k, groups)
        return y.view_as(x)

    @staticmethod
    @once_differentiable  # the hand-written backward is not itself differentiable
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
        blocks = list(_blocks(*xv.shape, x.element_size()))
        buffers = _scratch(x, xv[blocks[0][0], :, blocks[0][1]].shape, 4)
        k_t = torch.tensor(k, dtype=x.dtype, device=x.device)
        for rows, cols in blocks:
            xs, gs = xv[rows, :, cols], gv[rows, :, cols]
            d, r, t, u = _fit(buffers, xs.shape)
            _denominator(xs, d, r, size, alpha, beta, k_t, fwd)
            gr = r.mul_(gs)  # g_c d_c^-beta, in place of r
            torch.mul(gr, xs, out=t).div_(d)  # g_j a_j d_j^(-beta-1)
            _window_sum_(u.copy_(t), t, bwd)  # sum over the j whose window holds c
            torch.addcmul(gr, xs, u, value=-coef, out=dx[rows, :, cols])
        return dx.view_as(x), None, None, None, None, None


def _band(channels: int, size: int, groups: int, like: torch.Tensor) -> torch.Tensor:
    """(C, C) matrix B with B[c', c] = 1 where c' is in c's window and c's tower (as nn.LocalResponseNorm)."""
    c = torch.arange(channels, device=like.device)
    lo, hi = size // 2, (size - 1) // 2
    src, dst = c[:, None], c[None]
    per = channels // groups
    return ((src >= dst - lo) & (src <= dst + hi) & (src // per == dst // per)).to(like.dtype)


def _channels_last(x, size, alpha, beta, k, groups):
    """LRN of a channels-last (N, C, H, W) tensor; the output is channels-last too."""
    n, ch, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(-1, ch)  # (N*H*W, C): a view, no copy
    d = torch.addmm(torch.tensor(k, dtype=x.dtype, device=x.device), rows * rows, _band(ch, size, groups, x),
                    alpha=alpha / size)  # k + alpha/n * window sum of a^2
    return (rows * d.pow(-beta)).view(n, h, w, ch).permute(0, 3, 1, 2)


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
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return _channels_last(x, size, alpha, beta, k, groups)
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
