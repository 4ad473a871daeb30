"""Small AlexNets the tests share: the real architecture, narrower, so a test runs in a second.

Same layers, towers, LRN and pools as ``alexnet.model.AlexNet``; only the
kernel counts shrink. Seeded, in eval mode unless a test says otherwise.
"""

import torch

from alexnet.model import AlexNet, AlexNetConfig
from alexnet.weights import TORCHVISION_CONFIG

# conv1..conv5, fc6, fc7: the CIFAR-scale net at a quarter of its conv widths.
NARROW = (16, 32, 32, 32, 32, 64, 64)
# torchvision's conv widths (64/192/384/256/256), small fc6/fc7 (4096 -> 64).
SMALL_FC = (64, 192, 384, 256, 256, 64, 64)
NARROW_CIFAR = AlexNetConfig(variant="cifar", num_classes=10, init="kaiming", widths=NARROW)
SMALL_TORCHVISION = TORCHVISION_CONFIG.replace(init="kaiming", widths=SMALL_FC)


def make(config: AlexNetConfig = NARROW_CIFAR, seed: int = 0) -> AlexNet:
    """``AlexNet(config)`` with weights drawn after ``torch.manual_seed(seed)``, in eval mode."""
    torch.manual_seed(seed)
    return AlexNet(config).eval()
