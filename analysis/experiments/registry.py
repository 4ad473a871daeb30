"""The experiments, registered once: the CLI (``python -m analysis.experiments``),
the background jobs, the shipped references and the Experiments page read this table.

An experiment is a run function ``run(config, train, test, progress, should_stop)
-> ExperimentResult`` (``runs.py`` holds the two of AK; a new one goes in a file
of its own), its presets, and one ``register_experiment`` call below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .config import PRESETS, ExperimentConfig
from .runs import run_lrn_ablation, run_relu_tanh


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
    needs_test: bool = False  # whether ``run`` reads the CIFAR-10 test set


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


register_experiment(Experiment(
    "relu-tanh", "ReLU vs tanh (AK Fig. 1)", "Training error, ReLU vs tanh",
    "AK 3.1: ReLUs reach 25% training error about **6x** faster (in epochs) than tanh",
    lambda cfg, train, test, progress=None, should_stop=None: run_relu_tanh(cfg, train, progress, should_stop),
    PRESETS["relu-tanh"], "relu_tanh_reference.json"))
register_experiment(Experiment(
    "lrn", "LRN ablation (AK 3.3)", "Error with and without LRN",
    "AK 3.3: on CIFAR-10, LRN took a four-layer net from **13%** to **11%** test error",
    run_lrn_ablation, PRESETS["lrn"], "lrn_ablation_reference.json", needs_test=True))
