"""AlexNet Lab: a faithful two-tower AlexNet, its data, training and weights."""

from .lrn import LocalResponseNorm, local_response_norm
from .model import AlexNet, AlexNetConfig

__all__ = ["AlexNet", "AlexNetConfig", "LocalResponseNorm", "local_response_norm"]
