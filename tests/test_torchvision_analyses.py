"""Every analysis on torchvision's own AlexNet module, randomly initialised
(its ImageNet weights cannot be downloaded here), checked against that
module's own layers and against captum run on it directly.

Each analysis is given the torchvision module itself; the first test also
gives them the model the weights registry loads from a torchvision-format
state dict, as the app does.
"""

import pytest
import torch
import torchvision
from captum.attr import NeuronDeconvolution

import analysis
from alexnet.weights import TORCHVISION_KEYS, load_path

# captum warns that it sets requires_grad and hooks ReLUs; both are expected here.
pytestmark = pytest.mark.filterwarnings("ignore:.*(require gradients|backward hooks):UserWarning")


@pytest.fixture(scope="module")
def tv():
    torch.manual_seed(0)
    return torchvision.models.alexnet(weights=None).eval()


@pytest.fixture(scope="module", params=["module", "registry"])
def model(request, tv, tmp_path_factory):
    """What the analyses are given: torchvision's module, or the registry's model of its weights."""
    if request.param == "module":
        return tv
    path = tmp_path_factory.mktemp("tv") / "alexnet-random.pth"
    torch.save(tv.state_dict(), path)
    return load_path(path).model


@pytest.fixture(scope="module")
def x():
    return torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))


def reference(tv, x):
    """conv1, pool5 and fc7-after-ReLU straight from torchvision's Sequential indices."""
    with torch.no_grad():
        pool5 = tv.features(x)
        act7 = tv.classifier[:6](torch.flatten(tv.avgpool(pool5), 1))  # eval: dropouts are identity
        return {"conv1": tv.features[0](x), "pool5": pool5, "act7": act7, "fc8": tv(x)}


def test_activations_and_neighbour_features(model, tv, x):
    ref = reference(tv, x)
    out = analysis.layer_outputs(model, x, ["conv1", "pool5", "act7", "fc8"])
    for name, want in ref.items():
        torch.testing.assert_close(out[name], want, rtol=1e-5, atol=1e-5, msg=name)
    # Neighbours use fc7 after its ReLU (AK 6.1), the 4096-d vector.
    torch.testing.assert_close(analysis.neighbours.features(model, x), ref["act7"], rtol=1e-5, atol=1e-5)
    found = analysis.nearest_neighbours(model, x[:1], x, k=2)
    assert found.indices[0, 0] == 0 and found.distances[0, 0] < 1e-3


def test_deconvnet_matches_captum_on_the_torchvision_module(tv, x):
    p = analysis.project(tv, x[:1], "conv5", 7)
    assert p.value[0] > 0
    y, xx = p.position[0].tolist()
    tv_plain = torchvision.models.alexnet(weights=None).eval()  # captum hooks need out-of-place ReLUs
    tv_plain.load_state_dict(tv.state_dict())
    for m in tv_plain.modules():
        if isinstance(m, torch.nn.ReLU):
            m.inplace = False
    ref = NeuronDeconvolution(tv_plain, tv_plain.features[10]).attribute(x[:1], neuron_selector=(7, y, xx))
    torch.testing.assert_close(p.pixels / p.value[0], ref, rtol=1e-4, atol=1e-6)


def test_occlusion_against_hand_occluded_images(tv, x):
    out = analysis.occlusion(tv, x[:1], size=80, stride=72)  # 3 x 3 positions: 0, 72, 144
    assert out.top_class.dtype == torch.long
    with torch.no_grad():
        base = tv(x[:1]).softmax(1)[0]
        for i, r in enumerate(out.rows.tolist()):
            for j, c in enumerate(out.cols.tolist()):
                y = x[:1].clone()
                y[:, :, r:r + 80, c:c + 80] = 0.0
                prob = tv(y).softmax(1)[0]
                conv5 = torch.relu(tv.features[:11](y))[0, out.channel[0]].sum()
                torch.testing.assert_close(out.probability[0, i, j], prob[base.argmax()], rtol=1e-4, atol=1e-7)
                assert out.top_class[0, i, j] == prob.argmax()
                torch.testing.assert_close(out.activation[0, i, j], conv5, rtol=1e-4, atol=1e-4)


def test_invariance_against_transformed_images(tv, x):
    curve = analysis.invariance(tv, x, "rotate", amounts=[0.0, 90.0], layers=("act7",))
    with torch.no_grad():
        turned = analysis.transform_images(x, "rotate", 90.0)
        want = tv(turned).softmax(1).gather(1, tv(x).argmax(1, keepdim=True))[:, 0]
        dist = (reference(tv, turned)["act7"] - reference(tv, x)["act7"]).norm(dim=1)
    torch.testing.assert_close(curve.probability[:, 1], want, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(curve.distances["act7"][:, 1], dist, rtol=1e-4, atol=1e-4)
    assert curve.distances["act7"][:, 0].abs().max() < 1e-3


def test_top9_filters_and_evolution(tv, x):
    with torch.no_grad():
        conv2 = tv.features[:4](x)  # conv1, ReLU, pool, conv2
    best = analysis.top9(tv, "conv2", 3, x, k=2)
    assert [t.image_index for t in best] == conv2[:, 3].flatten(1).amax(1).argsort(descending=True).tolist()
    torch.testing.assert_close(torch.tensor([t.value for t in best]),
                               conv2[:, 3].flatten(1).amax(1).sort(descending=True).values)

    (grid,) = analysis.conv1_grids(tv)  # one tower of 64 kernels
    assert grid.shape == (3, 4 * 12 + 1, 16 * 12 + 1)
    kernels = analysis.filters.normalise_kernels(tv.features[0].weight)
    torch.testing.assert_close(grid[:, 1:12, 1:12], kernels[0])

    # Evolution: one snapshot holding the torchvision module's own conv weights,
    # under this project's layer names (as alexnet.train writes snapshots).
    features = {f"{TORCHVISION_KEYS[k.rpartition('.')[0]]}.{k.rpartition('.')[2]}": v
                for k, v in tv.state_dict().items() if k.startswith("features.")}
    (unit,) = analysis.evolution(tv, [(1, features)], x, [("conv2", 3)])
    assert unit.epochs == [1] and unit.image_index.tolist() == [best[0].image_index]
    torch.testing.assert_close(unit.value, torch.tensor([best[0].value]))


def test_the_torchvision_module_is_left_alone(tv, x):
    before = {k: v.clone() for k, v in tv.state_dict().items()}
    tv.train()
    try:
        analysis.occlusion(tv, x[:1], size=112, stride=112)
        analysis.project(tv, x[:1], "act5", 0)
        assert tv.training
        assert all(torch.equal(v, before[k]) for k, v in tv.state_dict().items())
    finally:
        tv.eval()
