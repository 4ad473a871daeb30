"""AK 3.1's four-layer CNN (Fig. 1: ReLU vs tanh), cuda-convnet's conv-pool x3 + fc.

The paper does not give the net; this is the stand-in the experiments train
(``analysis.experiments``). It has the same surface as AlexNet
(``alexnet.stages``): named stages and roles.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from .lrn import LocalResponseNorm
from .registry import register_model
from .stages import Roles, StagedNet

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class FourLayerCNN(StagedNet):
    """conv-act-[lrn]-pool three times, then fc (AK 3.1's four-layer CNN).

    5x5 convs with padding 2 keep the side; 3x3 stride-2 pools with padding 1
    (overlapping, AK 3.4) halve it: 32 -> 16 -> 8 -> 4. LRN (AK 3.3, k=2, n=5,
    alpha=1e-4 divided by n as in cuda-convnet, beta=0.75) follows act1, act2.
    """

    input_size = 32

    def __init__(self, activation: str = "relu", widths=(32, 32, 64), lrn: bool = False,
                 num_classes: int = 10):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from {', '.join(ACTIVATIONS)}")
        layers, cin = OrderedDict(), 3
        for i, w in enumerate(widths, start=1):
            layers[f"conv{i}"] = nn.Conv2d(cin, w, 5, padding=2)  # (N, w, S, S)
            layers[f"act{i}"] = ACTIVATIONS[activation]()
            if lrn and i <= 2:
                layers[f"lrn{i}"] = LocalResponseNorm(5, 1e-4, 0.75, 2.0)
            layers[f"pool{i}"] = nn.MaxPool2d(3, 2, padding=1)  # (N, w, S/2, S/2)
            cin = w
        self.features = nn.Sequential(layers)
        self.classifier = nn.Sequential(OrderedDict([
            ("flatten", nn.Flatten()),  # (N, widths[2] * 16)
            ("fc", nn.Linear(cin * 4 * 4, num_classes))]))
        last = len(widths)
        # No hidden fc layer: the flattened last pool is what the classifier reads.
        self.roles = Roles(first_conv="conv1", first_block="pool1", last_conv=f"act{last}",
                           penultimate="flatten", logits="fc")


@register_model("cnn4", title="AK 3.1's four-layer CNN (CIFAR-10)", input_size=32,
                architecture_page=False, small=dict(widths=(8, 8, 16), lrn=True))
def cnn4(**kwargs) -> FourLayerCNN:
    """The experiments' four-layer CNN; ``kwargs`` as ``FourLayerCNN``."""
    return FourLayerCNN(**kwargs)
