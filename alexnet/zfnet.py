"""ZFNet (Zeiler & Fergus 2014, Fig. 3): AlexNet with a smaller first layer.

Architecture only: no I/O, no device choice, nothing happens at import.

What ZF changed and why (ZF 4.1, Fig. 6): AlexNet's conv1 (11x11, stride 4)
learns a mix of very high and very low frequency filters with few in
between, and some dead ones; its conv2 shows aliasing from conv1's large
stride. ZFNet's conv1 is 7x7 with stride 2, conv2 takes stride 2 instead
(so the maps shrink to 13x13 at layer 3 as in AlexNet), and conv3-5 are
dense: one tower, no grouped convolutions. Each of layers 1 and 2 is
conv -> ReLU -> max-pool 3x3/2 -> contrast normalisation across maps (ZF
Fig. 3 pools *before* normalising; AlexNet normalises first).

Geometry (224 input; ZF Fig. 3 gives the sizes, not the paddings). The
paddings that give exactly those sizes with floor arithmetic:

    conv1 7x7/2 pad 1:  floor((224 - 7 + 2)/2) + 1 = 110   (pad 0 gives 109)
    pool1 3x3/2 pad 1:  floor((110 - 3 + 2)/2) + 1 = 55    (pad 0 gives 54)
    conv2 5x5/2 pad 0:  (55 - 5)/2 + 1 = 26
    pool2 3x3/2 pad 1:  floor((26 - 3 + 2)/2) + 1 = 13     (pad 0 gives 12)
    conv3-5 3x3 pad 1:  13
    pool5 3x3/2 pad 0:  (13 - 3)/2 + 1 = 6                 -> 6 x 6 x 256 = 9216

(cuda-convnet, which ZF used, rounded pooled sizes up: pad 0 with ceil_mode
gives the same 55 and 13; padding keeps the geometry plain kernel/stride/pad.)

CIFAR-scale analogue (32x32): the CIFAR AlexNet already has conv1 at stride
1, so ZF's smaller stride has nothing left to shrink; the kernel shrinks as
ZF's did (5x5 -> 3x3, as 11 -> 7), the pool-then-normalise order and the dense
one-tower conv3-5 are ZF's, and the widths are the CIFAR AlexNet's so the
two compare: 32 -> 32 -> 16 -> 16 -> 8 -> 8 -> 4.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace

from torch import nn

from .lrn import LocalResponseNorm
from .registry import register_model
from .stages import Roles, StagedNet

# Kernels per layer: conv1..conv5, fc6, fc7.
WIDTHS = {
    "imagenet": (96, 256, 384, 384, 256, 4096, 4096),  # ZF Fig. 3
    "cifar": (64, 128, 192, 192, 128, 1024, 1024),  # the CIFAR AlexNet's widths
}
WIDE = (96, 256, 512, 1024, 512, 4096, 4096)  # ZF Table 3's wider layers 3-5
# (kernel, stride, padding) of conv1 and conv2; the padding of pool1, pool2, pool5;
# input side; side after pool5. See the module docstring for the arithmetic.
GEOMETRY = {
    "imagenet": dict(conv1=(7, 2, 1), conv2=(5, 2, 0), pools=(1, 1, 0), input=224, out=6),
    "cifar": dict(conv1=(3, 1, 1), conv2=(5, 1, 2), pools=(1, 1, 1), input=32, out=4),
}
INITS = ("paper", "kaiming")
CONV_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")
FC_LAYERS = ("fc6", "fc7", "fc8")


@dataclass(frozen=True)
class ZFNetConfig:
    """Everything that defines a ZFNet; saved inside every checkpoint (with ``arch``)."""

    variant: str = "imagenet"  # "imagenet" (224) or "cifar" (32)
    num_classes: int = 1000
    lrn: bool = True  # contrast normalisation after pool1 and pool2 (ZF Fig. 3)
    dropout: float = 0.5  # in fc6 and fc7 (ZF 3, as AK 4.2)
    init: str = "paper"  # "paper": weights N(0, 0.01), biases 0 (ZF 3); "kaiming": He init
    widths: tuple[int, ...] = field(default=())  # empty: the variant's own

    def __post_init__(self):
        if self.variant not in WIDTHS:
            raise ValueError(f"unknown variant {self.variant!r}; choose from {sorted(WIDTHS)}")
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; choose from {INITS}")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {self.num_classes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.widths and len(self.widths) != 7:
            raise ValueError("widths needs 7 numbers: conv1..conv5, fc6, fc7")

    @property
    def layer_widths(self) -> tuple[int, ...]:
        return tuple(self.widths) if self.widths else WIDTHS[self.variant]

    @property
    def input_size(self) -> int:
        return GEOMETRY[self.variant]["input"]

    def to_dict(self) -> dict:
        """The config as saved in checkpoints; ``arch`` tells it from an AlexNet's."""
        return {"arch": "zfnet", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "ZFNetConfig":
        d = {k: v for k, v in d.items() if k != "arch"}
        d["widths"] = tuple(d.get("widths", ()))
        return cls(**d)

    def replace(self, **changes) -> "ZFNetConfig":
        return replace(self, **changes)


class ZFNet(StagedNet):
    """ZFNet with named stages: ``features`` conv1 .. pool5, ``classifier`` flatten .. fc8."""

    def __init__(self, config: ZFNetConfig = ZFNetConfig()):
        super().__init__()
        self.config = c = config
        g = GEOMETRY[c.variant]
        w1, w2, w3, w4, w5, w6, w7 = c.layer_widths
        (k1, s1, p1), (k2, s2, p2) = g["conv1"], g["conv2"]
        q1, q2, q5 = g["pools"]
        # ZF "layer 1" ends with its normalisation (conv, ReLU, pool, norm); layer 5
        # is conv5 after its ReLU; the penultimate layer is fc7 after its ReLU.
        block1 = "lrn1" if c.lrn else "pool1"
        self.roles = Roles(first_conv="conv1", first_block=block1, last_conv="act5",
                           penultimate="act7", logits="fc8")

        def lrn():  # across maps, as AlexNet's (AK 3.3 constants; ZF give none)
            return LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)

        f: list[tuple[str, nn.Module]] = [
            ("conv1", nn.Conv2d(3, w1, k1, stride=s1, padding=p1)),  # (B, 96, 110, 110)
            ("act1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(3, stride=2, padding=q1)),  # (B, 96, 55, 55)
            ("lrn1", lrn()),
            ("conv2", nn.Conv2d(w1, w2, k2, stride=s2, padding=p2)),  # (B, 256, 26, 26)
            ("act2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(3, stride=2, padding=q2)),  # (B, 256, 13, 13)
            ("lrn2", lrn()),
            ("conv3", nn.Conv2d(w2, w3, 3, padding=1)),  # dense: no towers (ZF 4.1)
            ("act3", nn.ReLU()),
            ("conv4", nn.Conv2d(w3, w4, 3, padding=1)),
            ("act4", nn.ReLU()),
            ("conv5", nn.Conv2d(w4, w5, 3, padding=1)),  # (B, 256, 13, 13)
            ("act5", nn.ReLU()),
            ("pool5", nn.MaxPool2d(3, stride=2, padding=q5)),  # (B, 256, 6, 6)
        ]
        if not c.lrn:
            f = [(n, m) for n, m in f if not n.startswith("lrn")]
        self.features = nn.Sequential(OrderedDict(f))
        self.classifier = nn.Sequential(OrderedDict([
            ("flatten", nn.Flatten()),  # (B, 9216)
            ("fc6", nn.Linear(w5 * g["out"] ** 2, w6)), ("act6", nn.ReLU()), ("drop6", nn.Dropout(c.dropout)),
            ("fc7", nn.Linear(w6, w7)), ("act7", nn.ReLU()), ("drop7", nn.Dropout(c.dropout)),
            ("fc8", nn.Linear(w7, c.num_classes))]))  # (B, classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """ZF 3: weights 1e-2 (read as N(0, 0.01), as AK 5) and biases 0; or He init."""
        for name in CONV_LAYERS + FC_LAYERS:
            m = self.layer(name)
            if self.config.init == "paper":
                nn.init.normal_(m.weight, 0.0, 0.01)
            else:
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu" if name != "fc8" else "linear")
            nn.init.zeros_(m.bias)

    @property
    def input_size(self) -> int:
        return self.config.input_size


NARROW = dict(widths=(8, 16, 16, 16, 16, 32, 32))  # a fast copy of each shape, for the tests


@register_model("zfnet", title="ZFNet (Zeiler & Fergus 2014, ImageNet)", input_size=224, small=NARROW)
def zfnet(**changes) -> ZFNet:
    """ZF Fig. 3's net; ``changes`` edit its ``ZFNetConfig``."""
    return ZFNet(ZFNetConfig(variant="imagenet", **changes))


@register_model("zfnet_wide", title="ZFNet, wider layers 3-5 (512/1024/512, ZF Table 3)",
                input_size=224, small=NARROW)
def zfnet_wide(**changes) -> ZFNet:
    """ZF Table 3's variant with bigger conv3-5 (512, 1024, 512 maps)."""
    return ZFNet(ZFNetConfig(**{"variant": "imagenet", "widths": WIDE, **changes}))


@register_model("zfnet_cifar", title="ZFNet, CIFAR-scale (32x32, one tower)", input_size=32, small=NARROW)
def zfnet_cifar(**changes) -> ZFNet:
    """The CIFAR-scale ZFNet (32x32 input, 10 classes by default), trainable by ``alexnet.train --arch zfnet``."""
    return ZFNet(ZFNetConfig(**{"variant": "cifar", "num_classes": 10, **changes}))
