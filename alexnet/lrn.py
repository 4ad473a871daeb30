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

A channels-last input (what training and ``analysis.experiments`` use: CPU
pooling and convs are faster so) takes the same blocked path on another
view: its (N*H*W, C) rows are already in memory, so (N*H*W*towers, C/towers,
1) is a view with the window along its middle axis, and the output comes
back channels-last with no copy either way. (The path it replaced built the
window sum as a matmul with a (C, C) band matrix and let autograd
differentiate ``pow``: in bfloat16 it was about half of a training step of
the shipped CIFAR-10 net; bench/bench_lrn.py measures both layouts.)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

_BLOCK_BYTES = 512 * 1024  # per scratch buffer: a block's buffers stay in L2/L3
_COMPUTE_BYTES = 4  # blocks are computed in float32 or wider (``_in_float``); sized for float32


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
    """Small buffers reused for every block (no page faults after the first), in
    ``like``'s dtype or float32 if that is narrower (see ``_in_float``)."""
    dtype = torch.promote_types(like.dtype, torch.float32)
    return [torch.empty(shape, dtype=dtype, device=like.device) for _ in range(count)]


def _in_float(block: torch.Tensor, buffer: torch.Tensor) -> torch.Tensor:
    """``block`` in the buffers' dtype: itself, or copied into ``buffer``.

    A bfloat16 block (training under autocast) is computed in float32: each
    bfloat16 op converts to float and back, so one copy in and one write out
    is cheaper than doing the dozen ops in bfloat16, and the denominator
    k + alpha/n sum a^2 (about 2.0 plus a little) keeps the little that a
    bfloat16's 8 bits would round away.
    """
    return block if block.dtype == buffer.dtype else buffer.copy_(block)


def _fit(buffers, shape) -> list[torch.Tensor]:
    """The buffers cut down to a (smaller) last block."""
    if buffers[0].shape == shape:
        return buffers
    n = 1
    for s in shape:
        n *= s
    return [b.view(-1)[:n].view(shape) for b in buffers]


def _channels_last(t: torch.Tensor) -> bool:
    return t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def _rows(t: torch.Tensor, groups: int, channels_last: bool) -> torch.Tensor:
    """(A, C/groups, L) with each tower's channels along the middle axis: a view
    of ``t`` in the layout named (a copy first if ``t`` is in another)."""
    n, ch = t.shape[:2]
    if channels_last:  # (N*H*W*G, C/G, 1)
        return t.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1).reshape(-1, ch // groups, 1)
    return t.contiguous().view(n * groups, ch // groups, -1)  # (N*G, C/G, H*W)


def _shaped_like(v: torch.Tensor, like: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """``v`` from ``_rows`` back in ``like``'s shape, in the layout named."""
    if channels_last:
        n, ch, h, w = like.shape
        return v.view(n, h, w, ch).permute(0, 3, 1, 2)
    return v.view_as(like)


class _LRNFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, size, alpha, beta, k, groups):
        cl = _channels_last(x)
        xv = _rows(x, groups, cl)
        y = torch.empty_like(xv)
        shifts = _shifts(size, xv.shape[1], transpose=False)
        blocks = list(_blocks(*xv.shape, _COMPUTE_BYTES))
        buffers = _scratch(x, xv[blocks[0][0], :, blocks[0][1]].shape, 3)
        k_t = torch.tensor(k, dtype=buffers[0].dtype, device=x.device)
        for rows, cols in blocks:
            d, r, xf = _fit(buffers, xv[rows, :, cols].shape)
            xs = _in_float(xv[rows, :, cols], xf)
            _denominator(xs, d, r, size, alpha, beta, k_t, shifts)
            torch.mul(xs, r, out=y[rows, :, cols])
        # Only x is saved (the ReLU before keeps it anyway); backward recomputes d.
        ctx.save_for_backward(x)
        ctx.args = (size, alpha, beta, k, groups)
        return _shaped_like(y, x, cl)

    @staticmethod
    @once_differentiable  # the hand-written backward is not itself differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        size, alpha, beta, k, groups = ctx.args
        cl = _channels_last(x)
        xv, gv = _rows(x, groups, cl), _rows(grad, groups, cl)
        dx = torch.empty_like(xv)
        fwd = _shifts(size, xv.shape[1], transpose=False)
        bwd = _shifts(size, xv.shape[1], transpose=True)
        coef = 2.0 * alpha * beta / size
        blocks = list(_blocks(*xv.shape, _COMPUTE_BYTES))
        buffers = _scratch(x, xv[blocks[0][0], :, blocks[0][1]].shape, 6)
        k_t = torch.tensor(k, dtype=buffers[0].dtype, device=x.device)
        for rows, cols in blocks:
            d, r, t, u, xf, gf = _fit(buffers, xv[rows, :, cols].shape)
            xs, gs = _in_float(xv[rows, :, cols], xf), _in_float(gv[rows, :, cols], gf)
            _denominator(xs, d, r, size, alpha, beta, k_t, fwd)
            gr = r.mul_(gs)  # g_c d_c^-beta, in place of r
            torch.mul(gr, xs, out=t).div_(d)  # g_j a_j d_j^(-beta-1)
            _window_sum_(u.copy_(t), t, bwd)  # sum over the j whose window holds c
            torch.addcmul(gr, xs, u, value=-coef, out=dx[rows, :, cols])
        return _shaped_like(dx, x, cl), None, None, None, None, None


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
