"""Writing and reading checkpoints: atomic writes, ``weights_only`` reads."""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import torch


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used, with a message for the user."""


def write_atomic(path, write, mode: str = "wb") -> None:
    """Call ``write(file)`` so that ``path`` is never half-written.

    The bytes go to a temporary file in the same folder, are flushed to disk,
    and only then renamed over ``path`` (an atomic rename on POSIX). A crash
    or kill leaves either the old file or the new one, never a mix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_atomic(obj, path) -> None:
    """``torch.save(obj, path)`` through ``write_atomic``: never a half-written checkpoint."""
    write_atomic(path, lambda f: torch.save(obj, f))


def remove_stale_temps(folder) -> list[Path]:
    """Delete the temporary files of ``save_atomic`` writes that a kill cut short.

    Only a SIGKILL (or power loss) can leave one: any exception removes its own.
    Call it where no other writer is active, e.g. when a run (re)starts.
    """
    stale = [p for p in Path(folder).glob(".*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def load_checkpoint(path, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; refuse anything else clearly."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): the file is damaged")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path} holds Python objects other than weights, which we refuse to load "
            f"because unpickling them could run code ({str(e).splitlines()[0]})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(
            f"{path} is not a readable PyTorch checkpoint: it is truncated or corrupt "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no detail'})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a checkpoint dictionary")
    return obj
