"""The papers' experiments on CIFAR-10: ReLU vs tanh (AK 3.1, Fig. 1), and the
ablations: LRN (AK 3.3), overlapping pooling (AK 3.4), dropout (AK 4.2),
augmentation (AK 4.1), two towers vs one (AK 3.2), layer removal (ZF Table 3).

    python -m analysis.experiments --help
    python -m analysis.experiments pooling --preset quick --data-dir ~/data/cifar10
"""

from .config import ExperimentConfig, FourLayerCNN, initial_state
from .job import ExperimentJob
from .reference import load_reference
from .registry import EXPERIMENTS, Experiment, preset, register_experiment
from .arms import Arm, run_arms
from .lrn import run_lrn_ablation
from .relu_tanh import run_relu_tanh
from .runs import Curve, ExperimentResult, epochs_to_target, summarize

__all__ = ["EXPERIMENTS", "Arm", "Curve", "Experiment", "ExperimentConfig", "ExperimentJob", "ExperimentResult",
           "FourLayerCNN", "epochs_to_target", "initial_state", "load_reference", "preset", "register_experiment",
           "run_arms", "run_lrn_ablation", "run_relu_tanh", "summarize"]
