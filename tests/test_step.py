"""alexnet.step.sgd_step, the one training step, against the softmax-regression
gradient worked out by hand: dL/dW = (softmax(Wx + b) - onehot(y))^T x / B."""

import math

import torch
from torch import nn

from alexnet.step import sgd_step


def test_one_step_is_the_hand_worked_gradient_step():
    torch.manual_seed(0)
    net = nn.Linear(4, 3)
    x, y = torch.randn(5, 4), torch.tensor([0, 2, 1, 2, 0])
    w, b = net.weight.detach().clone(), net.bias.detach().clone()
    p = torch.softmax(x @ w.T + b, 1)
    err = (p - nn.functional.one_hot(y, 3).float()) / len(y)  # (B, 3)
    loss = -torch.log(p[torch.arange(5), y]).mean()
    s = sgd_step(net, torch.optim.SGD(net.parameters(), lr=0.5), x, y)
    torch.testing.assert_close(net.weight.detach(), w - 0.5 * err.T @ x)
    torch.testing.assert_close(net.bias.detach(), b - 0.5 * err.sum(0))
    assert math.isclose(s.loss, loss.item(), rel_tol=1e-6)
    assert s.wrong == int((p.argmax(1) != y).sum()) and s.size == 5


def test_a_refused_loss_updates_nothing():
    torch.manual_seed(0)
    net = nn.Linear(4, 3)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    opt = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.9)
    assert sgd_step(net, opt, torch.randn(2, 4), torch.tensor([0, 1]), finite=lambda loss: False) is None
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert net.weight.grad is None and not opt.state  # no gradient taken, no momentum started


def test_a_bf16_step_runs_the_layers_in_bfloat16_and_lands_near_the_float32_step():
    """Mixed precision (``--precision bf16``): the layer computes in bfloat16, the weights
    stay float32 and move as the hand-worked float32 step moves them, to bfloat16's 3 digits."""
    torch.manual_seed(0)
    net = nn.Linear(16, 3)
    x, y = torch.randn(8, 16), torch.tensor([0, 2, 1, 2, 0, 1, 1, 0])
    w, b = net.weight.detach().clone(), net.bias.detach().clone()
    p = torch.softmax(x @ w.T + b, 1)
    err = (p - nn.functional.one_hot(y, 3).float()) / len(y)
    seen = []
    net.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    s = sgd_step(net, torch.optim.SGD(net.parameters(), lr=0.5), x, y, bf16=True)
    assert seen == [torch.bfloat16] and net.weight.dtype == torch.float32
    torch.testing.assert_close(net.weight.detach(), w - 0.5 * err.T @ x, rtol=0, atol=2e-2)
    torch.testing.assert_close(net.bias.detach(), b - 0.5 * err.sum(0), rtol=0, atol=2e-2)
    assert not torch.equal(net.weight.detach(), w - 0.5 * err.T @ x)  # not silently float32
    assert math.isclose(s.loss, -torch.log(p[torch.arange(8), y]).mean().item(), rel_tol=2e-2)
