"""ZF Fig. 6 in numbers (analysis.filter_quality) on hand-made kernels whose spectra are known."""

import math

import pytest
import torch
from torch import nn

from analysis.filter_quality import (band, dead_filters, energy_above, filter_quality, kernel_rms,
                                     layer_quality, mean_frequency)
from alexnet.registry import build_model, model_entry


def checkerboard(k: int) -> torch.Tensor:
    i = torch.arange(k)
    return ((-1.0) ** (i[:, None] + i[None, :])).expand(3, k, k)


def grating(k: int, cycles: int, axis: int) -> torch.Tensor:
    """cos(2 pi cycles n / k) along one axis: all its energy sits at f = cycles / k."""
    wave = torch.cos(2 * math.pi * cycles * torch.arange(k) / k)
    return (wave[:, None] if axis == 0 else wave[None, :]).expand(3, k, k).clone()


def test_band_is_the_dft_frequency_grid():
    assert band((4, 4)).tolist() == [[0, .25, .5, .25], [.25, .25, .5, .25], [.5, .5, .5, .5],
                                     [.25, .25, .5, .25]]


def test_constant_checkerboard_and_gratings():
    kernels = torch.stack([torch.ones(3, 8, 8), checkerboard(8), grating(8, 1, 0), grating(8, 3, 1)])
    high = energy_above(kernels, 0.25)
    torch.testing.assert_close(high, torch.tensor([0.0, 1.0, 0.0, 1.0]), atol=1e-6, rtol=0)
    # mean frequency: DC 0, checkerboard 0.5, the gratings exactly their own 1/8 and 3/8
    torch.testing.assert_close(mean_frequency(kernels), torch.tensor([0.0, 0.5, 0.125, 0.375]),
                               atol=1e-6, rtol=0)
    # stride 4 folds everything above 1/8 cycles per pixel: the 1/8 grating sits just at it
    torch.testing.assert_close(energy_above(kernels, 1 / 8), torch.tensor([0.0, 1.0, 0.0, 1.0]),
                               atol=1e-6, rtol=0)
    # half a constant plus half a checkerboard in energy: 1:1 amplitudes give equal energies
    torch.testing.assert_close(energy_above((torch.ones(3, 8, 8) + checkerboard(8))[None], 0.25),
                               torch.tensor([0.5]), atol=1e-6, rtol=0)


def test_zero_and_faint_kernels_are_dead():
    w = torch.randn(6, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    w[1] = 0
    w[4] *= 0.05  # 5% of its own RMS, well under 10% of the median
    assert dead_filters(w).tolist() == [False, True, False, False, True, False]
    assert energy_above(w[1:2], 0.25).item() == 0.0  # a zero kernel: no energy anywhere, not NaN
    torch.testing.assert_close(kernel_rms(w[:1]), w[0].pow(2).mean().sqrt()[None])


def test_filter_quality_of_a_net_reads_its_first_conv_and_stride():
    conv = nn.Conv2d(3, 4, 8, stride=4)
    with torch.no_grad():
        conv.weight.copy_(torch.stack([torch.ones(3, 8, 8), checkerboard(8), grating(8, 2, 0),
                                       torch.zeros(3, 8, 8)]))
    net = build_model("zfnet_cifar", **model_entry("zfnet_cifar").small)
    net.features.conv1 = conv
    net.features.conv2 = nn.Conv2d(4, 16, 5, padding=2)
    q = filter_quality(net)
    assert q.layer == "conv1" and q.stride == 4
    assert q.dead.tolist() == [False, False, False, True] and q.dead_fraction == 0.25
    # over the live kernels: high share (0 + 1 + 0) / 3; aliased above 1/8: (0 + 1 + 1) / 3
    assert q.high_fraction == pytest.approx(1 / 3) and q.aliased_fraction == pytest.approx(2 / 3)
    assert [x.layer for x in layer_quality(net)] == ["conv1", "conv2"]
    with pytest.raises(KeyError, match="conv1"):
        filter_quality(net, layer="act1")  # not a conv: the choices are named
