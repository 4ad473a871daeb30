"""The nets the ablation experiments compare (AK 3.2, 3.4, 4.1, 4.2; ZF Table 3), checked
against torch's own layers and the parameter counts the papers' comparisons imply."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from alexnet.lrn import local_response_norm
from alexnet.model import AlexNet, AlexNetConfig, alexnet_cifar, one_gpu_widths
from alexnet.photo_augment import pca_offsets

W = (16, 32, 48, 48, 32, 128, 128)  # conv1..conv5, fc6, fc7


def _params(net) -> int:
    return sum(p.numel() for p in net.parameters())


def test_one_tower_is_the_papers_one_gpu_net():
    """AK 3.2 and its footnote: half the kernels in conv1-conv4, conv5 and the FC layers whole,
    no grouped convolution, and about as many parameters as the two-tower net."""
    two, one = alexnet_cifar(widths=W), alexnet_cifar(widths=one_gpu_widths(W), towers=1)
    convs = [n for n in ("conv1", "conv2", "conv3", "conv4", "conv5")]
    assert [one.layer(n).out_channels for n in convs] == [8, 16, 24, 24, 32]
    assert all(one.layer(n).groups == 1 for n in convs)
    assert [two.layer(n).groups for n in convs] == [1, 2, 1, 2, 2]
    assert one.layer("lrn1").groups == 1 and two.layer("lrn1").groups == 2
    # conv5 (kernels see 24 maps either way) and the FC layers have the same shapes
    for n in ("conv5", "fc6", "fc7", "fc8"):
        assert one.layer(n).weight.shape == two.layer(n).weight.shape
    # Halving every layer would have left about a quarter of the parameters; this keeps most.
    assert 0.8 < _params(one) / _params(two) < 1.0
    # At the paper's size (built on the meta device: shapes only) the footnote's numbers:
    # 59.8M parameters against 61.0M (AK 3.2 gives no count; these are the layers' own).
    full_one, full_two = AlexNetConfig(towers=1), AlexNetConfig()
    assert full_one.layer_widths == one_gpu_widths(full_two.layer_widths) == (48, 128, 192, 192, 256, 4096, 4096)
    with torch.device("meta"):
        n1, n2 = _params(AlexNet(full_one)), _params(AlexNet(full_two))
    # by hand: conv 11*11*3*48+48 + 5*5*48*128+128 + 3*3*128*192+192 + 3*3*192*192+192
    # + 3*3*192*256+256, fc 9216*4096+4096 + 4096*4096+4096 + 4096*1000+1000
    assert n1 == 17472 + 153728 + 221376 + 331968 + 442624 + 37752832 + 16781312 + 4097000 == 59_798_312
    assert n2 == 60_965_224 and 0.97 < n1 / n2 < 0.99


def _reference_features(net, x, names):
    """The named layers applied one after the other with torch's functional ops."""
    for n in names:
        m = net.layer(n)
        if isinstance(m, nn.Conv2d):
            x = F.conv2d(x, m.weight, m.bias, m.stride, m.padding, groups=m.groups)
        elif n.startswith("act"):
            x = F.relu(x)
        elif n.startswith("lrn"):
            x = local_response_norm(x, 5, 1e-4, 0.75, 2.0, groups=2)
        elif n.startswith("pool"):
            x = F.max_pool2d(x, 3, 2, 1)
    return x


@pytest.mark.parametrize("removed", [("conv3", "conv4"), ("fc6", "fc7"), ("conv3", "conv4", "fc6", "fc7")])
def test_removed_layers_are_gone_and_the_rest_reads_what_is_left(removed):
    """ZF Table 3: without layers 3-4 conv5 reads conv2's pooled maps; without 6-7 fc8
    reads the flattened pool5."""
    net = alexnet_cifar(widths=W, removed=removed).eval()
    names = [n for n, _ in net.features.named_children()] + [n for n, _ in net.classifier.named_children()]
    for r in removed:
        assert r not in names and r.replace("conv", "act").replace("fc", "act") not in names
    assert not set(removed) & {n for n, _ in net.named_parameters()}
    x = torch.randn(2, 3, 32, 32)
    feats = [n for n, _ in net.features.named_children()]
    want = _reference_features(net, x, feats).flatten(1)
    for n in ("fc6", "fc7"):
        if n not in removed:
            want = F.relu(F.linear(want, net.layer(n).weight, net.layer(n).bias))
    want = F.linear(want, net.layer("fc8").weight, net.layer("fc8").bias)
    torch.testing.assert_close(net(x), want)
    if "conv3" in removed:
        assert net.layer("conv5").in_channels == W[1] and "conv3" not in net.roles.crossings
    if "fc7" in removed:
        assert net.layer("fc8").in_features == W[4] * 16 and net.roles.penultimate == "flatten"
    with pytest.raises(ValueError, match="can be removed"):
        AlexNetConfig(removed=("conv1",))
    assert AlexNetConfig.from_dict({**AlexNetConfig().to_dict(), "removed": list(removed)}).removed == removed


def test_dropout_arm_is_random_in_training_only():
    """AK 4.2: dropout in fc6 and fc7 while training; at test time every unit, outputs scaled."""
    net = alexnet_cifar(widths=W, dropout=0.5)
    x = torch.randn(4, 3, 32, 32)
    net.train()
    a, b = net(x), net(x)
    assert not torch.allclose(a, b)
    net.eval()
    torch.testing.assert_close(net(x), net(x))
    off = alexnet_cifar(widths=W, dropout=0.0).train()
    torch.testing.assert_close(off(x), off.eval()(x))


def test_pooling_arms_share_every_shape():
    """AK 3.4: 3x3 stride 2 against 2x2 stride 2; on 32x32 inputs both give 16 -> 8 -> 4,
    so both arms can start from the same weights."""
    over, flat = alexnet_cifar(widths=W), alexnet_cifar(widths=W, overlapping_pool=False)
    assert (over.layer("pool1").kernel_size, over.layer("pool1").stride) == (3, 2)
    assert (flat.layer("pool1").kernel_size, flat.layer("pool1").stride) == (2, 2)
    assert {k: v.shape for k, v in over.state_dict().items()} == {k: v.shape for k, v in flat.state_dict().items()}
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(flat.layer("pool1")(x), F.max_pool2d(x, 2, 2))


def test_pca_offsets_hand_worked():
    """AK 4.1: offset = V (alpha * lam), alpha ~ N(0, 0.1) per image, the same for every pixel."""
    vals = torch.tensor([0.2, 0.02, 0.0])
    vecs = torch.tensor([[0.6, 0.8, 0.0], [0.8, -0.6, 0.0], [0.0, 0.0, 1.0]])  # columns: the eigenvectors
    z = torch.randn(2, 3, generator=torch.Generator().manual_seed(5))  # what the offsets draw
    got = pca_offsets(2, torch.Generator().manual_seed(5), vals, vecs)
    for i in range(2):  # by hand: sum_j alpha_j lam_j p_j
        a = 0.1 * z[i]
        want = a[0] * 0.2 * vecs[:, 0] + a[1] * 0.02 * vecs[:, 1]
        torch.testing.assert_close(got[i], want)
    assert got[:, 2].abs().max() == 0  # no variance along blue here: blue never moves
