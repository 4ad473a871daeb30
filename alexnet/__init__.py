"""AlexNet Lab: a faithful two-tower AlexNet, its data, training and weights."""

from .lrn import LocalResponseNorm, local_response_norm
from .model import AlexNet, AlexNetConfig
from .stages import Roles, StagedNet

__all__ = ["AlexNet", "AlexNetConfig", "LocalResponseNorm", "Roles", "StagedNet", "local_response_norm"]
