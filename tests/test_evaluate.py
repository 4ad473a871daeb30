"""alexnet.evaluate's error counts against a hand count over one whole-batch forward
pass: evaluating a chunk of images at a time changes nothing but the speed."""

import torch

from alexnet.crops import cifar_ten_crop
from alexnet.evaluate import chunked, evaluate
from alexnet.model import AlexNet, AlexNetConfig


def _net():
    torch.manual_seed(0)
    return AlexNet(AlexNetConfig(variant="cifar", num_classes=10, widths=(8, 16, 16, 16, 16, 32, 32),
                                 init="kaiming")).eval()


def _by_hand(scores, y):
    top5 = scores.topk(5, 1).indices
    return int((top5[:, 0] != y).sum()) / len(y), int((top5 != y[:, None]).all(1).sum()) / len(y)


def test_chunked_forward_is_the_whole_batch_forward():
    net, x = _net(), torch.randn(300, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(chunked(net, x, 128), net(x), rtol=1e-4, atol=1e-5)


def test_single_and_ten_crop_errors_are_the_hand_counted_ones():
    net = _net()
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(300, 3, 32, 32, generator=g), torch.randint(0, 10, (300,), generator=g)
    batches = [(x[:170], y[:170]), (x[170:], y[170:])]  # 1,700 crops: chunks of 128 and a remainder
    with torch.no_grad():
        single = net(x)
        crops = cifar_ten_crop(x)  # (300, 10, 3, h, w)
        ten = net(crops.flatten(0, 1)).softmax(-1).view(300, 10, -1).mean(1)
    got = evaluate(net, batches)
    assert got.n == 300 and (got.top1, got.top5) == _by_hand(single, y)
    got = evaluate(net, batches, ten_crop=cifar_ten_crop)
    assert (got.top1, got.top5) == _by_hand(ten, y)
    assert 0.5 < got.top1 < 1  # an untrained net: the count is not trivially 0
