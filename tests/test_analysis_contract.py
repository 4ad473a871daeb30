"""What every analysis promises, on every net: a table of (analysis, net) pairs
in the spirit of captum's tests/attr/helpers/test_config.py.

Rows come from ``analysis.registry.ANALYSES`` (a new analysis joins by
registering there) and nets from ``alexnet.registry.models()`` (each built
from its ``small`` kwargs), plus ``Toy``: a net that is not AlexNet, with
other stage names, registered here. For each pair: the outputs have the
shapes worked out from the net's surface, the input's dtype and device
(or the CPU/float32 the row declares); the model's hooks, modes,
requires_grad flags and weights are left as they were, also after the
forward pass fails half-way (captum's habit); a wrong layer name is a
KeyError naming the valid choices.
"""

from collections import OrderedDict

import pytest
import torch
from torch import nn

from alexnet import registry
from alexnet.stages import Roles, StagedNet, feature_layers
from analysis.registry import ANALYSES, BAD_LAYER

TOY = "toy_not_alexnet"
NETS = sorted(registry.models()) + [TOY]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


class Toy(StagedNet):
    """conv -> ReLU -> pool -> conv -> ReLU | flatten -> linear -> ReLU -> linear, no AlexNet names."""

    input_size = 16

    def __init__(self, classes: int = 5):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("stem", nn.Conv2d(3, 6, 3, padding=1)), ("stem_relu", nn.ReLU()),
            ("down", nn.MaxPool2d(2)),  # (B, 6, 8, 8)
            ("mix", nn.Conv2d(6, 8, 3, stride=2)), ("mix_relu", nn.ReLU())]))  # (B, 8, 3, 3)
        self.classifier = nn.Sequential(OrderedDict([
            ("flat", nn.Flatten()), ("hidden", nn.Linear(72, 12)), ("hidden_relu", nn.ReLU()),
            ("scores", nn.Linear(12, classes))]))
        self.roles = Roles(first_conv="stem", first_block="down", last_conv="mix_relu",
                           penultimate="hidden_relu", logits="scores")


@pytest.fixture
def net(request, monkeypatch):
    """(model, the entry it was built from); the toy is registered for this test only."""
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    registry.register_model(TOY, title="a toy net", input_size=16, architecture_page=False)(Toy)
    entry = registry.model_entry(request.param)
    torch.manual_seed(0)
    model = registry.build_model(entry.name, **entry.small)
    for m in model.modules():  # the in-place-free, default-init nets give non-zero maps
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
            nn.init.uniform_(m.bias, -0.1, 0.1)
    return model.eval(), entry


def _images(entry, b: int = 3, dtype=torch.float32, device="cpu") -> torch.Tensor:
    s = entry.input_size
    return torch.randn(b, 3, s, s, generator=torch.Generator().manual_seed(1)).to(device, dtype)


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


@pytest.mark.parametrize("net", NETS, indirect=True)
@pytest.mark.parametrize("name", sorted(ANALYSES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("device", DEVICES)
def test_outputs_have_the_promised_shapes_dtypes_and_devices(net, name, dtype, device):
    model, entry = net
    model.to(device, dtype)
    row, x = ANALYSES[name], _images(entry, dtype=dtype, device=device)
    out = row.outputs(row.run(model, x))
    want = row.shapes(model, x)
    assert set(want) <= set(out), f"{name} did not return {set(want) - set(out)}"
    for key, t in out.items():
        if key in want:
            assert tuple(t.shape) == want[key], (name, key)
        assert t.device.type == ("cpu" if key in row.on_cpu else torch.device(device).type), (name, key)
        if t.is_floating_point():
            assert t.dtype == (torch.float32 if key in row.float32 else dtype), (name, key)
            assert torch.isfinite(t).all(), (name, key)
        else:
            assert t.dtype == torch.long, (name, key)  # indices and classes stay integers


@pytest.mark.parametrize("net", NETS, indirect=True)
@pytest.mark.parametrize("name", sorted(ANALYSES))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_model_left_as_it_was(net, name, mode):
    model, entry = net
    model.train(mode == "train")
    model.layer(model.roles.logits).weight.requires_grad_(False)  # a frozen layer stays frozen
    before = _state(model)
    ANALYSES[name].run(model, _images(entry))
    _same(_state(model), before)


class Broken(nn.Module):
    """Stands in for the last conv stage: the forward pass fails half-way."""

    def forward(self, x):
        raise RuntimeError("the last conv stage failed")


@pytest.mark.parametrize("net", NETS, indirect=True)
@pytest.mark.parametrize("name", sorted(n for n, a in ANALYSES.items() if a.forward))
def test_no_hook_left_after_an_error(net, name):
    model, entry = net
    setattr(model.features, model.roles.last_conv, Broken())
    before = _state(model)
    with pytest.raises(RuntimeError, match="the last conv stage failed"):
        ANALYSES[name].run(model, _images(entry))
    _same(_state(model), before)


@pytest.mark.parametrize("net", NETS, indirect=True)
@pytest.mark.parametrize("name", sorted(ANALYSES))
def test_a_wrong_layer_name_is_a_clear_error(net, name):
    model, entry = net
    row = ANALYSES[name]
    before = _state(model)
    with pytest.raises(row.error) as err:
        row.bad(model, _images(entry))
    msg = str(err.value)
    assert BAD_LAYER in msg and feature_layers(model)[0] in msg, msg  # names the valid choices
    _same(_state(model), before)


def test_every_net_is_in_the_table_with_roles_that_name_its_stages():
    """A newly registered net must come with a small copy and roles naming real stages."""
    for name in registry.models():
        entry = registry.model_entry(name)
        model = registry.build_model(name, **entry.small)
        stages = model.layer_names
        for role, stage in model.roles.as_dict().items():
            assert stage in stages, (name, role, stage)
        assert model.roles.first_block in feature_layers(model) and model.roles.last_conv in feature_layers(model)
        assert model.roles.logits == stages[-1], name  # the analyses read class scores there
    assert TOY not in registry.models()  # the toy was registered for its tests only
