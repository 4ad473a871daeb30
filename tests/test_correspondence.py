"""ZF 4.3's correspondence measure on a tiny net whose feature changes are worked by hand."""

from collections import OrderedDict

import pytest
import torch
from torch import nn

from alexnet.stages import Roles, StagedNet
from analysis._layers import Box
from analysis.correspondence import (correspondence, correspondence_table, occlude, random_boxes,
                                     sign_disagreement)


class PlusMinus(StagedNet):
    """1-channel 2x2 images -> act1 = (relu(x), relu(-x)) (8 features) -> fc: (sum, ch0 - ch1)."""

    input_size = 2

    def __init__(self):
        super().__init__()
        conv = nn.Conv2d(1, 2, 1, bias=False)
        fc = nn.Linear(8, 2)
        with torch.no_grad():
            conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
            fc.weight.copy_(torch.tensor([[1.0] * 8, [1.0] * 4 + [-1.0] * 4]))
            fc.bias.fill_(0.5)  # cancels in the difference
        self.features = nn.Sequential(OrderedDict([("conv1", conv), ("act1", nn.ReLU())]))
        self.classifier = nn.Sequential(OrderedDict([("flatten", nn.Flatten()), ("fc", fc)]))
        self.roles = Roles(first_conv="conv1", first_block="act1", last_conv="act1",
                           penultimate="fc", logits="fc")


IMAGES = torch.tensor([[[2.0, 7.0], [-3.0, 1.0]],
                       [[-1.0, 4.0], [2.0, -2.0]],
                       [[5.0, -6.0], [0.0, 3.0]]])[:, None]  # (3, 1, 2, 2)
TOP_LEFT = [Box(0, 0, 1, 1)] * 3


def test_hand_worked_example():
    # Masking the top-left pixel (set to 0) changes only its two act1 features:
    #   A (2):  eps = +2 on (ch0, p0)      -> signs + at ch0p0, 0 elsewhere
    #   B (-1): eps = +1 on (ch1, p0)      -> + at ch1p0
    #   C (5):  eps = +5 on (ch0, p0)      -> + at ch0p0
    # pairs (A,B), (A,C), (B,C) over D = 8 features: 2/8, 0, 2/8 -> Delta = 1/6.
    # fc = (sum, ch0 - ch1) changes by A (2, 2), B (1, -1), C (5, 5): signs (+,+), (+,-), (+,+)
    # -> pairs 1/2, 0, 1/2 -> Delta = 1/3.
    c = correspondence(PlusMinus(), IMAGES, TOP_LEFT)
    assert list(c) == ["act1", "fc"]
    assert c["act1"].pairs.tolist() == [0.25, 0.0, 0.25] and c["act1"].delta == pytest.approx(1 / 6)
    assert c["fc"].pairs.tolist() == [0.5, 0.0, 0.5] and c["fc"].delta == pytest.approx(1 / 3)
    assert c["act1"].spread == pytest.approx(torch.tensor([0.25, 0.0, 0.25]).std().item())
    assert c["act1"].changed.tolist() == [1 / 8] * 3


def test_sign_disagreement_counts_zero_as_its_own_sign():
    eps = torch.tensor([[1.0, 0.0, -2.0, 0.0], [3.0, 0.0, 0.0, -1.0], [-1.0, 0.0, -5.0, 0.0]])
    # (0,1): same, same, -/0, 0/- -> 2/4; (0,2): +/-, same, same, same -> 1/4; (1,2): 3 of 4 differ
    assert sign_disagreement(eps).tolist() == [0.5, 0.25, 0.75]
    with pytest.raises(ValueError, match="at least 2 images"):
        sign_disagreement(eps[:1])


def test_occlude_and_boxes():
    x = torch.ones(2, 3, 4, 4)
    y = occlude(x, [Box(0, 0, 2, 2), Box(1, 2, 4, 4)], fill=0.0)
    assert y[0, :, :2, :2].eq(0).all() and y[0].sum() == 3 * 12
    assert y[1, :, 1:, 2:].eq(0).all() and y[1].sum() == 3 * 10 and x.eq(1).all()
    with pytest.raises(ValueError, match="one box per image"):
        occlude(x, [Box(0, 0, 1, 1)])
    with pytest.raises(ValueError, match="leaves the 4x4 image"):
        occlude(x, [Box(0, 0, 1, 1), Box(2, 2, 5, 3)])
    g = torch.Generator().manual_seed(0)
    for b in random_boxes([Box(0, 0, 3, 2)] * 50, 4, 4, g):
        assert b.size == (3, 2) and 0 <= b.top and b.bottom <= 4 and 0 <= b.left and b.right <= 4


def test_table_has_the_parts_and_seeded_random_boxes():
    net = PlusMinus()
    t1 = correspondence_table(net, IMAGES, {"top left": TOP_LEFT}, random_trials=4, seed=3)
    t2 = correspondence_table(net, IMAGES, {"top left": TOP_LEFT}, random_trials=4, seed=3)
    assert list(t1) == ["top left", "random"]
    assert t1["top left"]["act1"].delta == pytest.approx(1 / 6)
    assert len(t1["random"]["act1"].pairs) == 4 * 3  # 4 draws x 3 pairs
    assert torch.equal(t1["random"]["fc"].pairs, t2["random"]["fc"].pairs)
