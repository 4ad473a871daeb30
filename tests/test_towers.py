"""TowerParallel against the single-device grouped AlexNet (torch's grouped
convs and one LRN with groups=2): same outputs, same gradients, same training."""

import pytest
import torch
import torch.nn.functional as F

from alexnet.model import AlexNet, AlexNetConfig
from alexnet.towers import TowerParallel

SMALL = (8, 16, 16, 16, 16, 32, 32)


def _pair(**changes):
    torch.manual_seed(0)
    cfg = AlexNetConfig(variant="cifar", num_classes=5, init="kaiming", widths=SMALL).replace(**changes)
    model = AlexNet(cfg)
    return model, TowerParallel(model, ["cpu", "cpu"])


@pytest.mark.parametrize("changes", [{}, {"activation": "tanh", "lrn": False},
                                     {"overlapping_pool": False}])
def test_forward_and_gradients_equal_grouped_model(changes):
    model, towers = _pair(**changes)
    x, y = torch.randn(6, 3, 32, 32), torch.randint(0, 5, (6,))
    for training in (False, True):
        model.train(training), towers.train(training)
        torch.manual_seed(1)  # the same dropout masks in train mode
        ref = model(x)
        torch.manual_seed(1)
        out = towers(x)
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    model.zero_grad(), towers.zero_grad()
    F.cross_entropy(ref, y).backward()
    F.cross_entropy(out, y).backward()
    # Reassemble the towers' gradients in the grouped layout and compare.
    grads = {n: p.grad for n, p in model.named_parameters()}
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"):
        halves = [dict(seg[t].named_children()) for t in range(2) for seg in towers.segments]
        a = next(h[name] for h in halves[:len(towers.segments)] if name in h)
        b = next(h[name] for h in halves[len(towers.segments):] if name in h)
        group = "features" if name.startswith("conv") else "classifier"
        torch.testing.assert_close(torch.cat([a.weight.grad, b.weight.grad]),
                                   grads[f"{group}.{name}.weight"], rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(torch.cat([a.bias.grad, b.bias.grad]),
                                   grads[f"{group}.{name}.bias"], rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(towers.fc8.weight.grad, grads["classifier.fc8.weight"])


def test_towers_are_independent_until_conv3():
    model, towers = _pair()
    model.eval(), towers.eval()
    x = torch.randn(3, 3, 32, 32)
    pool2 = model.forward_until(x, "pool2")  # (3, 16, 8, 8)
    for t in range(2):
        half = towers.segments[0][t](x)  # tower t alone, never seeing the other
        torch.testing.assert_close(half, pool2[:, model.tower_slice("conv2", t)], rtol=1e-5, atol=1e-6)


def test_to_grouped_round_trip_and_placement():
    model, towers = _pair()
    assert towers.devices == [torch.device("cpu"), torch.device("cpu")]
    back = towers.to_grouped()
    assert back.training == towers.training
    for k, v in model.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    tower_params = sum(p.numel() for p in towers.parameters())
    assert tower_params == sum(p.numel() for p in model.parameters())


def test_bad_arguments():
    torch.manual_seed(0)
    one = AlexNet(AlexNetConfig(variant="cifar", towers=1, widths=SMALL))
    with pytest.raises(ValueError, match="needs a two-tower AlexNet"):
        TowerParallel(one, ["cpu", "cpu"])
    two = AlexNet(AlexNetConfig(variant="cifar", widths=SMALL))
    with pytest.raises(ValueError, match="exactly two devices"):
        TowerParallel(two, ["cpu"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU for tower A; none here")
def test_cuda_and_cpu_towers():
    model, _ = _pair()
    model.eval()
    towers = TowerParallel(model, ["cuda", "cpu"]).eval()
    assert towers.segments[0][0][0].weight.device.type == "cuda"
    assert towers.segments[0][1][0].weight.device.type == "cpu"
    x = torch.randn(4, 3, 32, 32)
    out = towers(x)
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), model(x), rtol=1e-3, atol=1e-4)


def test_training_on_two_towers_matches_grouped_training(tmp_path, image_folder, isolated_cache):
    from alexnet.checkpoint import load_checkpoint
    from alexnet.train import TrainConfig, train

    base = dict(dataset="folder", data_dir=str(image_folder), epochs=1, batch_size=16, lr=0.02,
                init="kaiming", widths=",".join(map(str, SMALL)), threads=1, schedule="constant")
    net = train(TrainConfig(**base, out=str(tmp_path / "towers"), tower_devices="cpu,cpu"))
    assert isinstance(net, TowerParallel)
    train(TrainConfig(**base, out=str(tmp_path / "plain")))
    a = load_checkpoint(tmp_path / "towers" / "last.pt")
    b = load_checkpoint(tmp_path / "plain" / "last.pt")
    torch.manual_seed(0)
    init = AlexNet(AlexNetConfig.from_dict(b["model_config"])).state_dict()
    for k in b["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=1e-5)
        if k.endswith("weight"):
            assert (b["model"][k] - init[k]).abs().max() > 1e-3, k  # it did train
    assert [r["train_loss"] for r in a["history"]] == pytest.approx([r["train_loss"] for r in b["history"]])
