"""The shipped reference results (``pretrained/*_reference.json``), for the app to show at once."""

from __future__ import annotations

import json
from pathlib import Path

from alexnet.weights import PRETRAINED  # noqa: F401  (one pretrained/ folder; __main__ imports it here)

from .registry import EXPERIMENTS
from .runs import ExperimentResult



def load_reference(name: str, folder=PRETRAINED) -> dict:
    """The reference document of experiment ``name``, its runs as ExperimentResults.

    Keys: experiment, config, seeds, summary (epochs to target, ratio or test
    error: mean, std, per seed), runs, machine, wall_seconds, command.
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown reference {name!r}; choose from {', '.join(EXPERIMENTS)}")
    path = Path(folder) / EXPERIMENTS[name].reference_file
    if not path.exists():
        raise FileNotFoundError(
            f"no reference results for {name!r} at {path}. Make them with "
            f"`python -m analysis.experiments reference --experiments {name} --data-dir DIR` "
            "(the full protocol over three seeds), or run the quick preset live instead.")
    try:
        doc = json.loads(path.read_text())
        doc["runs"] = [ExperimentResult.from_dict(r) for r in doc["runs"]]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} is not a reference results file we can read ({e}); "
                         "make it again with `python -m analysis.experiments reference`") from None
    return doc
