"""The nets this project can build, by name (timm's ``@register_model``).

A net lives in one file and registers a builder for each of its shapes:

    @register_model("zfnet", title="ZFNet (Zeiler & Fergus 2014)", input_size=224,
                    small=dict(widths=(8, 16, 16, 16, 16, 32, 32)))
    def zfnet(**kwargs) -> ZFNet: ...

and that file's module name goes into ``NET_MODULES`` below, so the
registry imports it on first use. Builders return a ``StagedNet``
(``alexnet.stages``): named stages and ``roles``. The weights registry
(``alexnet.weights``) and the Architecture page read this table.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

# The files that register nets; imported on first use (nothing happens at import).
NET_MODULES = ("alexnet.model", "alexnet.cnn4", "alexnet.zfnet")


@dataclass(frozen=True)
class ModelEntry:
    """One registered net: its builder and what the app says about it."""

    name: str
    build: Callable  # (**kwargs) -> StagedNet
    title: str  # for the app's Architecture page
    input_size: int  # the side of the square images it takes
    architecture_page: bool = True  # listed on the Architecture page
    small: dict = field(default_factory=dict)  # builder kwargs for a narrow copy the tests run fast


_MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, *, title: str, input_size: int, architecture_page: bool = True,
                   small: dict | None = None):
    """Decorator: register ``fn(**kwargs) -> StagedNet`` as the net ``name``.

    ``small``: kwargs for a narrow copy of the same shape, which the contract
    tests (tests/test_analysis_contract.py) run every analysis on.
    """
    def wrap(fn):
        if name in _MODELS and _MODELS[name].build is not fn:
            raise ValueError(f"a net named {name!r} is already registered")
        _MODELS[name] = ModelEntry(name, fn, title, input_size, architecture_page, dict(small or {}))
        return fn
    return wrap


def _load_all() -> None:
    for module in NET_MODULES:
        importlib.import_module(module)


def models() -> dict[str, ModelEntry]:
    """Every registered net, in registration order."""
    _load_all()
    return dict(_MODELS)


def model_entry(name: str) -> ModelEntry:
    """The entry of net ``name``, else a KeyError listing the registered ones."""
    entries = models()
    if name not in entries:
        raise KeyError(f"no net named {name!r}; choose from {', '.join(entries)}")
    return entries[name]


def build_model(name: str, **kwargs):
    """A freshly initialised net ``name`` (``kwargs`` go to its builder)."""
    return model_entry(name).build(**kwargs)
