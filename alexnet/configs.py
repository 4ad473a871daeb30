"""A checkpoint's ``model_config`` back to its net: AlexNet, or ZFNet when it says ``arch: zfnet``.

``alexnet.train`` saves ``model.config.to_dict()`` in every checkpoint and
snapshot. AlexNet's configs carry no ``arch`` (checkpoints from before ZFNet
joined stay readable); ZFNet's say ``"arch": "zfnet"``.
"""

from __future__ import annotations

from .model import AlexNet, AlexNetConfig
from .zfnet import ZFNet, ZFNetConfig

ARCHS = {"alexnet": (AlexNetConfig, AlexNet), "zfnet": (ZFNetConfig, ZFNet)}


def config_from_dict(d: dict):
    """The config a checkpoint's ``model_config`` describes (``AlexNetConfig`` or ``ZFNetConfig``)."""
    arch = d.get("arch", "alexnet") if isinstance(d, dict) else None
    if arch not in ARCHS:
        raise ValueError(f"model_config names an unknown arch {arch!r}; known: {', '.join(ARCHS)}")
    return ARCHS[arch][0].from_dict(d)


def net_from_config(config):
    """A freshly initialised net for ``config``."""
    for cfg_type, net in ARCHS.values():
        if isinstance(config, cfg_type):
            return net(config)
    raise TypeError(f"no net is built from a {type(config).__name__}")
