"""alexnet.summary.layer_table against the paper's numbers (AK Fig. 2) and torchvision's."""

import torch

from alexnet.model import AlexNet, AlexNetConfig
from alexnet.summary import layer_table, totals
from alexnet.weights import TORCHVISION_CONFIG


def meta_model(config):
    with torch.device("meta"):
        return AlexNet(config)


def test_imagenet_sizes_and_params_match_the_paper():
    rows = {r.name: r for r in layer_table(meta_model(AlexNetConfig(variant="imagenet")))}
    # Output sides 55 / 27 / 13 / 6 (AK 3.5; 224 with conv1 padding 2).
    assert rows["conv1"].shape == (96, 55, 55)
    assert rows["pool1"].shape == (96, 27, 27)
    assert rows["pool2"].shape == (256, 13, 13)
    assert rows["conv5"].shape == (256, 13, 13)
    assert rows["pool5"].shape == (256, 6, 6)
    assert rows["flatten"].shape == (9216,)
    assert rows["fc8"].shape == (1000,)
    # 217/4 = 54.25: 224 with padding 2 only works out with the floor (docs/papers.md, AK 3.5: 224 against 227).
    assert rows["conv1"].size_formula == "⌊(224 - 11 + 2·2)/4⌋ + 1 = 55"
    assert rows["conv3"].size_formula == "(13 - 3 + 2·1)/1 + 1 = 13"
    assert rows["pool1"].size_formula == "(55 - 3 + 2·0)/2 + 1 = 27"
    # Weights + biases from the paper's kernel shapes, worked by hand:
    # conv2 sees 48 maps (its own tower): 256*5*5*48 + 256.
    expected = {"conv1": 96 * 11 * 11 * 3 + 96, "conv2": 256 * 5 * 5 * 48 + 256,
                "conv3": 384 * 3 * 3 * 256 + 384, "conv4": 384 * 3 * 3 * 192 + 384,
                "conv5": 256 * 3 * 3 * 192 + 256, "fc6": 9216 * 4096 + 4096,
                "fc7": 4096 * 4096 + 4096, "fc8": 4096 * 1000 + 1000}
    assert {n: rows[n].params for n in expected} == expected
    assert expected["conv1"] == 34_944 and expected["conv2"] == 307_456
    assert sum(expected.values()) == 60_965_224  # the paper's "60 million parameters"
    assert rows["conv1"].macs == 55 * 55 * 96 * 11 * 11 * 3  # 105.4M
    assert rows["conv2"].macs == 27 * 27 * 256 * 5 * 5 * 48
    assert rows["lrn1"].params == 0 and rows["pool1"].macs == 0
    assert rows["conv2"].towers == "own tower only"
    assert rows["conv3"].towers == "both towers (they talk)"
    assert rows["fc6"].towers == "both towers (they talk)"


def test_totals_match_torchvision():
    import torchvision

    real = torchvision.models.alexnet(weights=None)
    rows = layer_table(meta_model(TORCHVISION_CONFIG))
    params, macs = totals(rows)
    assert params == sum(p.numel() for p in real.parameters()) == 61_100_840
    # torchvision's documented cost of AlexNet: 0.714 GFLOPs (multiply-adds).
    assert round(macs / 1e9, 3) == 0.714
    assert rows[-1].shape == (1000,)


def test_shapes_agree_with_a_real_forward_pass():
    model = AlexNet(AlexNetConfig(variant="cifar", num_classes=10)).eval()
    x = torch.zeros(2, 3, 32, 32)
    with torch.no_grad():
        acts = model.activations(x, model.layer_names)
    for row in layer_table(model):
        assert tuple(acts[row.name].shape[1:]) == row.shape, row.name
    assert sum(r.params for r in layer_table(model)) == sum(p.numel() for p in model.parameters())


def test_one_tower_and_cifar_pool_formula():
    rows = {r.name: r for r in layer_table(meta_model(AlexNetConfig(variant="cifar", towers=1)))}
    assert rows["conv2"].towers == "one tower"
    assert rows["pool1"].size_formula == "⌊(32 - 3 + 2·1)/2⌋ + 1 = 16"
