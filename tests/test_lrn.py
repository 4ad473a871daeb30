"""The fast LRN against torch.nn.LocalResponseNorm (AK 3.3), values and gradients."""

import pytest
import torch
from torch import nn

import alexnet.lrn as lrn_module
from alexnet.lrn import LocalResponseNorm, local_response_norm

TOL = dict(atol=1e-5, rtol=1e-5)


def _pair(shape, size, alpha, beta, k, groups, scale, seed=0, channels_last=False):
    """(ours, reference) outputs and input gradients for one random input."""
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=gen) * scale).relu_()  # LRN follows a ReLU
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    g = torch.randn(shape, generator=gen)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1 = local_response_norm(x1, size, alpha, beta, k, groups)
    ref = nn.LocalResponseNorm(size, alpha=alpha, beta=beta, k=k)
    y2 = torch.cat([ref(part) for part in x2.chunk(groups, dim=1)], dim=1)
    y1.backward(g)
    y2.backward(g)
    return x, y1, y2, x1.grad, x2.grad


# (shape, size, alpha, beta, k, groups, input scale). Scales are large enough
# that the window sum moves the output well beyond the tolerance: a window off
# by one channel would fail.
CASES = [
    ((2, 96, 13, 13), 5, 1e-4, 0.75, 2.0, 1, 30.0),   # the paper's settings
    ((1, 7, 5, 5), 5, 1e-4, 0.75, 2.0, 1, 30.0),      # batch 1, odd channels
    ((3, 5, 4, 4), 5, 1e-4, 0.75, 2.0, 1, 30.0),      # as many channels as the window
    ((2, 3, 4, 4), 7, 1e-2, 0.75, 2.0, 1, 5.0),       # window wider than the channels
    ((2, 16, 6, 6), 4, 1e-2, 0.5, 1.0, 1, 5.0),       # even size, beta 0.5
    ((2, 10, 3, 3), 3, 0.5, 1.3, 1.0, 1, 1.0),        # general beta
    ((2, 9, 7, 7), 1, 0.1, 0.75, 2.0, 1, 3.0),        # size 1: no neighbours
    ((2, 64, 9, 9), 5, 1e-4, 0.75, 2.0, 2, 30.0),     # two towers
    ((1, 10, 4, 4), 4, 1e-2, 0.5, 2.0, 2, 5.0),       # odd channels per tower
    ((4, 12, 6), 5, 1e-2, 0.75, 2.0, 2, 5.0),         # (N, C, L) input
]


@pytest.mark.parametrize("block_bytes", [1024, 512 * 1024], ids=["tiny-blocks", "default-blocks"])
@pytest.mark.parametrize("case", CASES, ids=[str(c[0]) + f"-n{c[1]}-b{c[3]}-g{c[5]}" for c in CASES])
def test_matches_torch_lrn_values_and_gradients(case, block_bytes, monkeypatch):
    # Tiny blocks force both blocking paths (several rows per block, and one
    # row split along the spatial axis) with a partial last block.
    monkeypatch.setattr(lrn_module, "_BLOCK_BYTES", block_bytes)
    shape, size, alpha, beta, k, groups, scale = case
    x, y1, y2, g1, g2 = _pair(shape, size, alpha, beta, k, groups, scale)
    torch.testing.assert_close(y1, y2, **TOL)
    torch.testing.assert_close(g1, g2, **TOL)
    # Hand reference without neighbours: a / (k + alpha/n a^2)^beta. With a
    # window of 1 it is the answer; otherwise the neighbours must matter.
    alone = x / (k + alpha / size * x * x) ** beta
    if size == 1:
        torch.testing.assert_close(y1.detach(), alone, **TOL)
    else:
        assert (y1.detach() - alone).abs().max() > 1e-3


@pytest.mark.parametrize("case", [c for c in CASES if len(c[0]) == 4 and c[0][2] > 1],
                         ids=[str(c[0]) + f"-n{c[1]}-b{c[3]}-g{c[5]}" for c in CASES if len(c[0]) == 4 and c[0][2] > 1])
def test_channels_last_matches_torch_lrn_and_stays_channels_last(case):
    """Channels-last inputs (what training and the experiments use): the blocked
    path on a (N*H*W*towers, C/towers, 1) view, its output channels-last too."""
    shape, size, alpha, beta, k, groups, scale = case
    x, y1, y2, g1, g2 = _pair(shape, size, alpha, beta, k, groups, scale, channels_last=True)
    assert not x.is_contiguous() and y1.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y1, y2, **TOL)
    torch.testing.assert_close(g1, g2, **TOL)
    if size > 1:  # the neighbours matter, as above
        assert (y1.detach() - x / (k + alpha / size * x * x) ** beta).abs().max() > 1e-3


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "channels-last"])
def test_bfloat16_is_computed_in_float32_and_rounded_once(channels_last):
    """Under autocast LRN gets bfloat16 maps. Each block is worked in float32, so
    the output and the gradient are float32's answer (torch's LRN on the same
    bfloat16 values, in float32) rounded once to bfloat16: within half a
    bfloat16 step (2**-8 relative) of it, where a bfloat16 chain of a dozen ops
    would drift further."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    x, _, _, _, _ = _pair((4, 96, 8, 8), 5, 1e-4, 0.75, 2.0, 2, 30.0)
    g = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    xb, gb = (t.to(torch.bfloat16).contiguous(memory_format=layout) for t in (x, g))
    x1, x2 = xb.clone().requires_grad_(), xb.float().requires_grad_()
    y1 = local_response_norm(x1, 5, 1e-4, 0.75, 2.0, groups=2)
    ref = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
    y2 = torch.cat([ref(h) for h in x2.chunk(2, dim=1)], dim=1)
    y1.backward(gb)
    y2.backward(gb.float())
    assert y1.dtype == x1.grad.dtype == torch.bfloat16
    assert y1.is_contiguous(memory_format=layout) and x1.grad.is_contiguous(memory_format=layout)
    for ours, want in ((y1.detach(), y2.detach()), (x1.grad, x2.grad)):
        err = (ours.float() - want).abs()
        assert (err <= want.abs() * 2 ** -8 + 1e-6).all(), err.max()


def x_of(shape, scale, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=gen) * scale).relu_()


def test_paper_shapes_batch_one():
    # conv1's LRN input at 224 (one image) and conv2's: the real geometry.
    for shape in [(1, 96, 55, 55), (1, 256, 27, 27)]:
        _, y1, y2, g1, g2 = _pair(shape, 5, 1e-4, 0.75, 2.0, 2, 30.0)
        torch.testing.assert_close(y1, y2, **TOL)
        torch.testing.assert_close(g1, g2, **TOL)


def test_two_towers_never_share_a_window():
    x = x_of((2, 8, 3, 3), 10.0)
    y = local_response_norm(x, 5, 0.1, 0.75, 2.0, groups=2)
    x_b = x.clone()
    x_b[:, 4:] *= 7.0  # change only tower B
    y_b = local_response_norm(x_b, 5, 0.1, 0.75, 2.0, groups=2)
    assert torch.equal(y[:, :4], y_b[:, :4])
    assert not torch.allclose(y[:, 4:], y_b[:, 4:])
    # With one group the window crosses the middle and tower A does change.
    assert not torch.allclose(local_response_norm(x, 5, 0.1)[:, :4],
                              local_response_norm(x_b, 5, 0.1)[:, :4])


@pytest.mark.parametrize("size,beta,groups", [(5, 0.75, 1), (4, 0.5, 2), (3, 1.3, 1)])
def test_gradcheck_float64(size, beta, groups):
    x = (torch.rand(2, 6, 2, 3, dtype=torch.float64) * 3).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda t: local_response_norm(t, size, alpha=0.5, beta=beta, k=1.0, groups=groups), (x,))


def test_non_contiguous_input_and_module_form():
    x = x_of((2, 16, 5, 5), 20.0).to(memory_format=torch.channels_last)
    m = LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
    torch.testing.assert_close(m(x), nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0)(x), **TOL)
    assert "groups=1" in repr(m) and "size=5" in repr(m)


def test_bad_input_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        local_response_norm(torch.ones(4, 5))
    with pytest.raises(ValueError, match="cannot be split into 2 towers"):
        local_response_norm(torch.ones(1, 5, 2, 2), groups=2)
    with pytest.raises(ValueError, match="at least 1"):
        local_response_norm(torch.ones(1, 4, 2, 2), size=0)


def test_double_backward_is_refused_not_silently_wrong():
    x = x_of((1, 6, 2, 2), 5.0).requires_grad_()
    (g,) = torch.autograd.grad(local_response_norm(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        g.sum().backward()
