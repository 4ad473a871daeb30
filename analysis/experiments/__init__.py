"""Convergence experiments: ReLU vs tanh (AK 3.1, Fig. 1) and the LRN ablation (AK 3.3).

    python -m analysis.experiments relu-tanh --preset quick --data-dir ~/data/cifar10
"""

from .config import ExperimentConfig, FourLayerCNN, initial_state
from .job import ExperimentJob
from .reference import load_reference
from .registry import EXPERIMENTS, Experiment, preset, register_experiment
from .lrn import run_lrn_ablation
from .relu_tanh import run_relu_tanh
from .runs import Curve, ExperimentResult, epochs_to_target, summarize

__all__ = ["EXPERIMENTS", "Curve", "Experiment", "ExperimentConfig", "ExperimentJob", "ExperimentResult", "FourLayerCNN",
           "epochs_to_target", "initial_state", "load_reference", "preset", "register_experiment", "run_lrn_ablation",
           "run_relu_tanh", "summarize"]
