"""What every analysis promises (README, "Analyses as a library"; captum's habit): it leaves no
hook behind, also when the forward pass fails half-way; it never changes the
model's mode, its requires_grad flags or its weights."""

import pytest
import torch
from torch import nn

import analysis
from alexnet.model import AlexNet, AlexNetConfig
from tests.nets import NARROW


class Broken(nn.Module):
    """Stands in for conv3: the forward pass fails after conv1 and conv2 ran."""

    def forward(self, x):
        raise RuntimeError("conv3 failed")


def _images():
    return torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))


CALLS = {
    "project": lambda m, x: analysis.project(m, x, "act5", 0),
    "top9": lambda m, x: analysis.top9(m, "act5", 0, x, k=2),
    "occlusion": lambda m, x: analysis.occlusion(m, x[:1], size=16, stride=16),
    "layer_outputs": lambda m, x: analysis.layer_outputs(m, x, ["act5", "act7"]),
    "nearest_neighbours": lambda m, x: analysis.nearest_neighbours(m, x[:1], x, k=2),
    "invariance": lambda m, x: analysis.invariance(m, x, "scale", amounts=[1.0, 1.2]),
    "evolution": lambda m, x: analysis.evolution(
        m, [(1, {f"features.{k}": v for k, v in m.features.state_dict().items()})], x, [("act5", 0)]),
    "deconvnet": lambda m, x: analysis.deconvnet(m, x, 1),
    "guided_backprop": lambda m, x: analysis.guided_backprop(m, x, 2, layer="act5"),
    "saliency": lambda m, x: analysis.saliency(m, x, 3),
    "gradcam": lambda m, x: analysis.gradcam(m, x, 4, layer="fc7"),
    "integrated_gradients": lambda m, x: analysis.integrated_gradients(m, x, 5, steps=4),
    "activation_grid": lambda m, x: analysis.activation_grid(m, x, "act5"),
    "visualise": lambda m, x: analysis.visualise(m, "act5", [0, 1], size=32,
                                                 settings=analysis.FeatVisSettings(steps=2)),
}


def _state(model):
    hooks = sum(len(h) for mod in model.modules() for h in (
        mod._forward_hooks, mod._forward_pre_hooks, mod._backward_hooks,
        getattr(mod, "_backward_pre_hooks", {})))
    return (hooks, [m.training for m in model.modules()], [p.requires_grad for p in model.parameters()],
            {k: v.clone() for k, v in model.state_dict().items()})


def _same(a, b):
    assert a[0] == b[0] == 0, "hooks left behind"
    assert a[1] == b[1], "module modes changed"
    assert a[2] == b[2], "requires_grad flags changed"
    assert a[3].keys() == b[3].keys() and all(torch.equal(a[3][k], b[3][k]) for k in a[3]), "weights changed"


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_model_left_as_it_was(name, mode):
    torch.manual_seed(0)
    model = AlexNet(AlexNetConfig(variant="cifar", num_classes=10, init="kaiming", widths=NARROW))
    model.train(mode == "train")
    model.layer("fc8").weight.requires_grad_(False)  # a frozen layer stays frozen
    before = _state(model)
    CALLS[name](model, _images())
    _same(_state(model), before)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_no_hook_left_after_an_error(name):
    torch.manual_seed(0)
    model = AlexNet(AlexNetConfig(variant="cifar", num_classes=10, init="kaiming", widths=NARROW)).eval()
    model.features.conv3 = Broken()
    before = _state(model)
    with pytest.raises(RuntimeError, match="conv3 failed"):
        CALLS[name](model, _images())
    _same(_state(model), before)
