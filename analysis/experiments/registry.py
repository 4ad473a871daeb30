"""The experiments, registered once: the CLI (``python -m analysis.experiments``),
the background jobs, the shipped references and the Experiments page read this table.

An experiment is one file, ``analysis/experiments/<name>.py``: its presets, a
run function ``run(config, train, test, progress, should_stop) ->
ExperimentResult`` built on ``runs._Trainer`` (and so on ``alexnet.step``),
its summary over seeds, and a ``register_experiment`` call; its module name
goes into ``EXPERIMENT_MODULES`` below.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from .config import ExperimentConfig

# analysis/experiments/<module>.py, each registers itself
EXPERIMENT_MODULES = ("relu_tanh", "relu_tanh_saturation", "lrn", "pooling", "dropout", "augmentation", "towers",
                      "layer_removal")


@dataclass(frozen=True)
class Experiment:
    """One experiment: how to run it and what the app and CLI say about it."""

    name: str  # the CLI's sub-command
    label: str  # the Experiments page's tab and the CLI's help
    title: str  # the Experiments page's chart title
    claim: str  # what the paper says (Markdown), shown next to the results
    run: Callable  # (config, train, test or None, progress=None, should_stop=None) -> ExperimentResult
    presets: dict[str, ExperimentConfig]  # "quick" (live in the app) and "full" (the reference)
    reference_file: str  # pretrained/<file>: the shipped full-protocol result
    summary: Callable  # (results over seeds) -> dict of the experiment's own figures (runs.stats)
    needs_test: bool = False  # whether ``run`` reads the CIFAR-10 test set
    claims: tuple = ()  # the papers' claims its runs measure (claims.Claim), for the Paper claims page
    resumable: bool = False  # ``run`` takes ``checkpoint=path`` and goes on from there (a seed takes hours)
    # ``run`` takes ``grown_from=result``, the seed's run on a smaller lr grid, and trains only the new lrs
    grows: bool = False
    # another experiment whose reference runs ``run`` may take (``borrowed=[its runs of the seed]``)
    # where they are runs it would make itself (relu-tanh-saturation's input scale 1 is relu-tanh's run)
    borrows: str = ""


EXPERIMENTS: dict[str, Experiment] = {}


def register_experiment(e: Experiment) -> Experiment:
    if e.name in EXPERIMENTS:
        raise ValueError(f"an experiment named {e.name!r} is already registered")
    EXPERIMENTS[e.name] = e
    return e


def experiment(name: str) -> Experiment:
    """The registered experiment ``name``, else a ValueError listing them."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def preset(name: str, which: str) -> ExperimentConfig:
    """A copy of a named preset (``quick`` or ``full``) of experiment ``name``."""
    presets = experiment(name).presets
    if which not in presets:
        raise ValueError(f"unknown preset {which!r}; choose from {', '.join(presets)}")
    return ExperimentConfig.from_dict(presets[which].to_dict())


# The files that register experiments, imported with this one.
for _module in EXPERIMENT_MODULES:
    importlib.import_module(f"{__package__}.{_module}")
