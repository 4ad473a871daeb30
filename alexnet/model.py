"""AlexNet (Krizhevsky, Sutskever, Hinton 2012) as it ran on two GPUs.

Architecture only: no I/O, no device choice, nothing happens at import.

The two towers (AK 3.2, Fig. 2) are grouped convolutions. A layer whose
kernels see only their own tower's maps (conv2, conv4, conv5) has
``groups=towers``; a layer where the towers talk (conv3, fc6, fc7, fc8) is
dense. Output channels [0, C/2) belong to tower A and [C/2, C) to tower B,
in every layer, so ``tower_slice`` names either half. LRN normalises within
a tower, as each GPU did. ``alexnet.towers`` places the halves on two devices.

Geometry. ImageNet: 224x224 input with conv1 padding 2 (as torchvision does),
so 224 -> 55 -> 27 -> 13 -> 6; the paper's 227 without padding gives the
same sizes. CIFAR (32x32): conv1 5x5 stride 1, pools 3x3 stride 2 padding 1,
so 32 -> 16 -> 8 -> 4; non-overlapping 2x2 pools give the same sizes.

Ablations (``analysis.experiments``): ``overlapping_pool`` (AK 3.4), ``dropout``
(AK 4.2), ``towers=1`` (AK 3.2's one-GPU net, ``one_gpu_widths``) and
``removed`` (ZF Table 3: conv3-conv4 and/or fc6-fc7 taken out, the next
layer reading what the one before gives).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace

import torch
from torch import nn

from .lrn import LocalResponseNorm
from .registry import register_model
from .stages import Roles, StagedNet

# Kernels per layer for the whole net (both towers): conv1..conv5, fc6, fc7.
WIDTHS = {
    "imagenet": (96, 256, 384, 384, 256, 4096, 4096),  # AK Fig. 2
    "cifar": (64, 128, 192, 192, 128, 1024, 1024),  # same shape, ~1/20 the FLOPs
    "torchvision": (64, 192, 384, 256, 256, 4096, 4096),  # "one weird trick" AlexNet
}
# conv1 (kernel, stride, padding); pool padding; input side; side after pool5.
GEOMETRY = {
    "imagenet": dict(conv1=(11, 4, 2), conv2_kernel=5, pool_pad=0, input=224, out=6),
    "cifar": dict(conv1=(5, 1, 2), conv2_kernel=5, pool_pad=1, input=32, out=4),
    "torchvision": dict(conv1=(11, 4, 2), conv2_kernel=5, pool_pad=0, input=224, out=6),
}
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}
INITS = ("paper", "kaiming")
CONV_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")
FC_LAYERS = ("fc6", "fc7", "fc8")
# AK 5: biases 1 where ReLUs should start active, 0 elsewhere.
UNIT_BIAS_LAYERS = ("conv2", "conv4", "conv5", "fc6", "fc7")
# AK 3.2: the layers whose input comes from both towers (where the GPUs talk).
CROSSINGS = ("conv3", "fc6", "fc7", "fc8")
# ZF Table 3 removes layers 3 and 4 and/or 6 and 7; any of these may go (``removed``).
REMOVABLE = ("conv3", "conv4", "fc6", "fc7")


def one_gpu_widths(widths) -> tuple[int, ...]:
    """AK 3.2's one-GPU comparison net for a two-tower net of ``widths`` (conv1..conv5, fc6, fc7).

    Half the kernels in conv1-conv4, but conv5 and the FC layers kept whole:
    the paper's footnote says most parameters sit in fc6, which reads conv5,
    so halving conv5 and the FC layers would have left the one-GPU net with a
    quarter of the parameters ("the comparison is biased in favour of the
    one-GPU net").
    """
    widths = tuple(widths)
    return tuple(w // 2 for w in widths[:4]) + widths[4:]


@dataclass(frozen=True)
class AlexNetConfig:
    """Everything that defines an AlexNet; saved inside every checkpoint."""

    variant: str = "imagenet"  # "imagenet", "cifar", or "torchvision" (its weights)
    num_classes: int = 1000
    activation: str = "relu"  # "relu" or "tanh" (AK 3.1)
    lrn: bool = True  # AK 3.3, after the activations of conv1 and conv2
    overlapping_pool: bool = True  # 3x3 stride 2 (AK 3.4); False: 2x2 stride 2
    towers: int = 2  # 1: the paper's one-GPU comparison net (AK 3.2; see layer_widths)
    dropout: float = 0.5  # AK 4.2, in fc6 and fc7
    init: str = "paper"  # "paper": N(0, 0.01) and unit biases; "kaiming": He init
    widths: tuple[int, ...] = field(default=())  # empty: the variant's own
    removed: tuple[str, ...] = ()  # ZF Table 3's ablations: any of REMOVABLE, e.g. ("conv3", "conv4")

    def __post_init__(self):
        if self.variant not in WIDTHS:
            raise ValueError(f"unknown variant {self.variant!r}; choose from {sorted(WIDTHS)}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose from {sorted(ACTIVATIONS)}")
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; choose from {INITS}")
        if self.towers not in (1, 2):
            raise ValueError(f"towers must be 1 or 2, got {self.towers}")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {self.num_classes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.variant == "torchvision" and (self.towers != 1 or self.lrn):
            raise ValueError("the torchvision variant has one tower and no LRN: pass towers=1, lrn=False")
        if self.widths and len(self.widths) != 7:
            raise ValueError("widths needs 7 numbers: conv1..conv5, fc6, fc7")
        if set(self.removed) - set(REMOVABLE):
            raise ValueError(f"only {', '.join(REMOVABLE)} can be removed, got {self.removed}")
        if any(w % self.towers for w in self.layer_widths):
            raise ValueError(f"every width must split into {self.towers} towers: {self.layer_widths}")

    @property
    def layer_widths(self) -> tuple[int, ...]:
        """Kernels per layer for the whole net (conv1..conv5, fc6, fc7).

        One tower is AK 3.2's one-GPU comparison net (``one_gpu_widths``).
        Explicit ``widths`` are taken as they are, for either number of towers.
        """
        if self.widths:
            return tuple(self.widths)
        base = WIDTHS[self.variant]
        if self.variant != "torchvision" and self.towers == 1:
            return one_gpu_widths(base)
        return base

    @property
    def input_size(self) -> int:
        return GEOMETRY[self.variant]["input"]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AlexNetConfig":
        d = dict(d)
        d["widths"] = tuple(d.get("widths", ()))
        d["removed"] = tuple(d.get("removed", ()))  # older checkpoints have no such key
        return cls(**d)

    def replace(self, **changes) -> "AlexNetConfig":
        return replace(self, **changes)


def _drop_layers(stages: list, gone: set, first_in: int) -> list:
    """``stages`` without the conv/fc layers in ``gone`` (and their activations and
    dropout); each layer left is rebuilt to read the width the layer before it gives.
    ``first_in``: the width entering the first conv/fc layer listed."""
    def owner(name: str) -> str:  # "act3" -> "conv3", "drop6" -> "fc6"; others their own
        kind = name.rstrip("0123456789")
        i = name[len(kind):]
        return (("conv" if int(i) <= 5 else "fc") + i) if kind in ("act", "drop") and i else name

    out, width = [], first_in
    for name, m in stages:
        if owner(name) in gone:
            continue
        if isinstance(m, nn.Conv2d):
            m = nn.Conv2d(width, m.out_channels, m.kernel_size, stride=m.stride, padding=m.padding,
                          groups=m.groups)
        elif isinstance(m, nn.Linear):
            m = nn.Linear(width, m.out_features)
        width = getattr(m, "out_channels", getattr(m, "out_features", width))
        out.append((name, m))
    return out


class AlexNet(StagedNet):
    """AlexNet with named layers and the surface of ``alexnet.stages``.

    ``features``: conv1 .. pool5; ``classifier``: flatten .. fc8. Every stage
    has a name (``conv1``, ``act1``, ``lrn1``, ``pool1``, ..., ``fc8``).
    """

    def __init__(self, config: AlexNetConfig = AlexNetConfig()):
        super().__init__()
        self.config = c = config
        # ZF "layer 1" is conv1 -> ReLU -> (LRN) -> pool1; "layer 5" is conv5 after
        # its ReLU; AK Fig. 4's neighbours use fc7 after its ReLU.
        gone = set(c.removed)
        hidden = [n for n in ("act6", "act7") if f"fc{n[-1]}" not in gone]
        crossings = tuple(n for n in CROSSINGS if n not in gone)  # without conv3 they meet in fc6
        self.roles = Roles(first_conv="conv1", first_block="pool1", last_conv="act5",
                           penultimate=hidden[-1] if hidden else "flatten", logits="fc8",
                           towers=c.towers, crossings=crossings if c.towers > 1 else ())
        g = GEOMETRY[c.variant]
        w1, w2, w3, w4, w5, w6, w7 = c.layer_widths
        t = c.towers
        act = ACTIVATIONS[c.activation]
        k1, s1, p1 = g["conv1"]
        k2 = g["conv2_kernel"]

        def pool():
            if c.overlapping_pool:
                return nn.MaxPool2d(3, stride=2, padding=g["pool_pad"])
            return nn.MaxPool2d(2, stride=2)

        def lrn():
            return LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0, groups=t)

        f: list[tuple[str, nn.Module]] = [
            ("conv1", nn.Conv2d(3, w1, k1, stride=s1, padding=p1)),  # (B, 96, 55, 55)
            ("act1", act()),
            ("lrn1", lrn()),
            ("pool1", pool()),  # (B, 96, 27, 27)
            ("conv2", nn.Conv2d(w1, w2, k2, padding=k2 // 2, groups=t)),  # own tower only
            ("act2", act()),
            ("lrn2", lrn()),
            ("pool2", pool()),  # (B, 256, 13, 13)
            ("conv3", nn.Conv2d(w2, w3, 3, padding=1)),  # the towers talk
            ("act3", act()),
            ("conv4", nn.Conv2d(w3, w4, 3, padding=1, groups=t)),
            ("act4", act()),
            ("conv5", nn.Conv2d(w4, w5, 3, padding=1, groups=t)),
            ("act5", act()),
            ("pool5", pool()),  # (B, 256, 6, 6)
        ]
        if not c.lrn:
            f = [(n, m) for n, m in f if not n.startswith("lrn")]
        if gone & {"conv3", "conv4"}:  # ZF Table 3: the next conv reads what the last one left
            f = _drop_layers(f, gone, 3)
        self.features = nn.Sequential(OrderedDict(f))

        flat = w5 * g["out"] ** 2
        if c.variant == "torchvision":
            # torchvision drops out *before* fc6 and fc7; kept so its weights
            # train the same way. In eval mode the two orders are identical.
            head = [("flatten", nn.Flatten()), ("drop6", nn.Dropout(c.dropout)),
                    ("fc6", nn.Linear(flat, w6)), ("act6", act()),
                    ("drop7", nn.Dropout(c.dropout)), ("fc7", nn.Linear(w6, w7)),
                    ("act7", act())]
        else:
            head = [("flatten", nn.Flatten()),  # (B, 9216)
                    ("fc6", nn.Linear(flat, w6)), ("act6", act()), ("drop6", nn.Dropout(c.dropout)),
                    ("fc7", nn.Linear(w6, w7)), ("act7", act()), ("drop7", nn.Dropout(c.dropout))]
        head.append(("fc8", nn.Linear(w7, c.num_classes)))  # (B, classes)
        if gone & {"fc6", "fc7"}:  # ZF Table 3: the next FC layer reads what the last one left
            head = _drop_layers(head, gone, flat)
        self.classifier = nn.Sequential(OrderedDict(head))
        self.reset_parameters()

    # ---- initialisation -------------------------------------------------
    def reset_parameters(self) -> None:
        """AK 5: weights N(0, 0.01), biases 1 in conv2, conv4, conv5, fc6, fc7.

        "kaiming" is He initialisation with zero biases: the paper's fixed
        0.01 starts a small net with a vanishing signal and trains slowly.
        """
        for name in CONV_LAYERS + FC_LAYERS:
            if name in self.config.removed:
                continue
            layer = self.layer(name)
            if self.config.init == "paper":
                nn.init.normal_(layer.weight, 0.0, 0.01)
                nn.init.constant_(layer.bias, 1.0 if name in UNIT_BIAS_LAYERS else 0.0)
            else:
                gain = "relu" if self.config.activation == "relu" and name != "fc8" else "linear"
                nn.init.kaiming_normal_(layer.weight, nonlinearity=gain)
                nn.init.zeros_(layer.bias)

    # ---- the surface: alexnet.stages (layer, activations, forward_until, run_from)
    @property
    def input_size(self) -> int:
        return self.config.input_size

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, 256, 6, 6)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x)  # (B, classes)

    def conv1_weights_by_tower(self) -> tuple[torch.Tensor, ...]:
        """conv1 kernels per tower, each (48, 3, 11, 11) for the paper's net."""
        w = self.layer("conv1").weight.detach()
        return tuple(w[self.tower_slice("conv1", t)] for t in range(self.config.towers))


# The registered shapes (alexnet.registry); the weights registry builds through these.
NARROW = dict(widths=(16, 32, 32, 32, 32, 64, 64))  # a fast copy of each shape, for the tests


@register_model("alexnet", title="The paper's net (ImageNet, two towers)", input_size=224, small=NARROW)
def alexnet(**changes) -> AlexNet:
    """AK Fig. 2's two-tower ImageNet net; ``changes`` edit its ``AlexNetConfig``."""
    return AlexNet(AlexNetConfig(variant="imagenet", **changes))


@register_model("alexnet_cifar", title="This project's CIFAR-10 net (two towers)", input_size=32,
                small=NARROW)
def alexnet_cifar(**changes) -> AlexNet:
    """The CIFAR-scale two-tower net (32x32 input, 10 classes by default)."""
    return AlexNet(AlexNetConfig(**{"variant": "cifar", "num_classes": 10, **changes}))


@register_model("alexnet_torchvision", title="torchvision's AlexNet (one tower, no LRN)", input_size=224,
                small=NARROW)
def alexnet_torchvision(**changes) -> AlexNet:
    """torchvision's "one weird trick" AlexNet under this project's layer names."""
    return AlexNet(AlexNetConfig(**{"variant": "torchvision", "towers": 1, "lrn": False, **changes}))
