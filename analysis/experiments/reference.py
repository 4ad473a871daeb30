"""The shipped reference results (``pretrained/*_reference.json``), for the app to show at once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from alexnet.weights import PRETRAINED  # noqa: F401  (one pretrained/ folder; __main__ imports it here)

from .claims import Claim, Measured, measure
from .registry import EXPERIMENTS, preset
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


@dataclass(frozen=True)
class ClaimRow:
    """One claim of one registered experiment, measured on its shipped reference (if any)."""

    experiment: str
    claim: Claim
    measured: Measured | None  # None: no reference (or an unreadable one), see ``note``
    seeds: tuple = ()
    note: str = ""  # why there is no measurement, and what to do
    command: str = ""  # the command that makes (or made) the reference
    wall_seconds: float | None = None


def reference_command(name: str) -> str:
    """The command that makes experiment ``name``'s reference (resumable per seed)."""
    return f"python -m analysis.experiments reference --experiments {name} --seeds 0 1 2 --data-dir DIR"


def made_with_full_preset(name: str, doc: dict) -> bool:
    """Whether every run of a reference document used today's full preset of ``name`` (seed
    aside; a field added since reads with its default): a file part-way through growing its
    lr grid holds runs of both grids."""
    try:
        full = preset(name, "full")
        return full.ran(doc["config"]) and all(full.ran(r.config) for r in doc["runs"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return False


STALE = "made with other settings than today's full preset: rerun it to measure today's protocol"


def claim_rows(folder=PRETRAINED) -> list[ClaimRow]:
    """Every claim of every registered experiment, with its effect over the reference's seeds."""
    rows = []
    for name, e in EXPERIMENTS.items():
        if not e.claims:
            continue
        try:
            doc = load_reference(name, folder)
        except FileNotFoundError:
            rows += [ClaimRow(name, c, None, note="no reference yet", command=reference_command(name))
                     for c in e.claims]
            continue
        except ValueError as err:
            rows += [ClaimRow(name, c, None, note=str(err), command=reference_command(name)) for c in e.claims]
            continue
        note = "" if made_with_full_preset(name, doc) else STALE
        rows += [ClaimRow(name, c, measure(c, doc["runs"]), tuple(doc.get("seeds", ())), note=note,
                          command=doc.get("command", ""), wall_seconds=doc.get("wall_seconds"))
                 for c in e.claims]
    return rows
