"""Writing and reading checkpoints: atomic writes, ``weights_only`` reads."""

from __future__ import annotations

import os
import pickle
import re
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


# Torch's zip format (PyTorch >= 1.6) and the pickled magic number that
# torch.save wrote first in the legacy format (0x1950a86a20f9469cfc6c as LONG1).
_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_MAGIC = b"\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"
_WHAT_TO_PASS = ("Pass a file written by torch.save: a checkpoint from `python -m alexnet.train` "
                 "or a torchvision AlexNet state dict.")
# What the weights-only unpickler says when the pickle asks for more than tensors
# and containers: a global (a function or class to import) or a call to one.
_REFUSED_OBJECT = re.compile(r"GLOBAL (\S+) (?:was not an allowed|whose module)"
                             r"|reduce for unrecognized function (.+?)(?: which belongs|$)"
                             r"|Can only (?:build|create new object)[^\n]*? but got (.+)$", re.M)


def _looks_like(head: bytes) -> str:
    """What a file that is not a PyTorch checkpoint seems to be, from its first bytes."""
    start = head.lstrip()[:64].lower()
    if head.startswith(b"\x1f\x8b"):
        return "gzip-compressed data (a .gz file): decompress it first"
    if head.startswith((b"BZh", b"\xfd7zXZ\x00", b"7z\xbc\xaf\x27\x1c", b"\x28\xb5\x2f\xfd")):
        return "a compressed archive (bzip2, xz, 7z or zstd): extract the checkpoint from it first"
    if head[257:262] == b"ustar":
        return "a tar archive: extract the checkpoint from it first"
    if start.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or (
            start.startswith(b"<") and b"<html" in head.lower()):
        return ("an HTML web page, not weights: the download probably saved an error or "
                "sign-in page; download the file itself again")
    if head[8:10] == b'{"' and int.from_bytes(head[:8], "little") < 1 << 30:  # header length
        return "a safetensors file, which this app does not read"
    if start.startswith((b"{", b"[")):
        return "JSON text"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "an HDF5 file (such as Keras .h5 weights)"
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy .npy array"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a plain Python pickle (pickle.dump), not torch.save; it was not unpickled"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:  # a multi-byte character cut at the end of ``head`` is fine
        text = head[:e.start].decode("utf-8") if e.start >= len(head) - 3 else None
    if text is not None and all(c.isprintable() or c in "\t\r\n" for c in text):
        return "plain text"
    return "unrecognised binary data"


def _damaged(path, detail: str) -> CheckpointError:
    return CheckpointError(f"{path} is damaged or truncated ({detail}): download or copy it "
                           "again, or use another checkpoint")


def _reason(e: Exception) -> str:
    """torch's error as a short detail, without its advice (it suggests weights_only=False)."""
    lines = [line.strip().removeprefix("WeightsUnpickler error: ") for line in str(e).splitlines()]
    lines = [line for line in lines if line and not any(
        s in line for s in ("weights_only", "Weights only", "Check the documentation", "file an issue"))]
    return f"{type(e).__name__}: {lines[0][:200]}" if lines else type(e).__name__


def _check_zip(path: Path) -> None:
    """Refuse a zip that is not torch's layout, or one whose CRCs show damage.

    torch.load does not check the CRC-32 of each part, so a flipped byte in a
    tensor loads silently as a wrong weight; ``testzip`` reads every part and
    checks it: about 4 ms of CPU for the 7.5 MB shipped checkpoint, less than the load.
    """
    try:
        with zipfile.ZipFile(path) as z:
            if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in z.namelist()):
                raise CheckpointError(f"{path} is a zip archive but not a PyTorch checkpoint (it "
                                      f"has no data.pkl). {_WHAT_TO_PASS}")
            bad = z.testzip()
    except CheckpointError:
        raise
    except zipfile.BadZipFile as e:
        detail = ("the end of the file, where its zip index lives, is missing"
                  if "not a zip file" in str(e) else f"its zip structure is broken: {e}")
        raise _damaged(path, detail) from None
    except Exception as e:  # a flipped byte in a header can fail in many ways
        raise _damaged(path, f"its zip structure is broken: {type(e).__name__}: {e}") from None
    if bad is not None:
        raise _damaged(path, f"the part {bad} fails its CRC-32 check")


def shipped_weights(ckpt: dict) -> dict:
    """A training checkpoint's net as it ships: the weight average when the run kept one
    (``--average-from``), else its last weights."""
    return ckpt["average"] if "average" in ckpt else ckpt["model"]


def check_finite(tensors: dict, where) -> None:
    """Refuse weights holding nan or inf, naming the first tensor that does.

    A diverged run or a damaged copy can carry them; such a net answers
    every input with the same (or no) class, which reads as a plain bad
    score instead of an error. Non-tensor and integer entries are skipped.
    """
    for name, t in tensors.items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            nan, inf = int(torch.isnan(t).sum()), int(torch.isinf(t).sum())
            what = " and ".join(f"{n:,} {k}" for n, k in ((nan, "nan"), (inf, "inf")) if n)
            raise CheckpointError(f"{where} holds non-finite weights: {name} has {what} of its "
                                  f"{t.numel():,} values (a diverged run or a damaged copy); "
                                  "use another checkpoint")


def load_checkpoint(path, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; refuse anything else clearly.

    Every refusal is a ``CheckpointError`` whose message says which of these
    it is: not a PyTorch checkpoint, damaged or truncated, or carrying Python
    objects that could run code.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.suffix in (".pt", ".pth"))[:3]
        raise CheckpointError(f"{path} is a folder, not a checkpoint file: pass a file inside it"
                              + (f" (it holds {', '.join(inside)})" if inside else ""))
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist: check the path")
    if not path.is_file():
        raise CheckpointError(f"{path} is not a regular file: pass a checkpoint file")
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as e:
        raise CheckpointError(f"{path} cannot be read ({e.strerror}): check its permissions") from None
    if not head:
        raise CheckpointError(f"{path} is empty (0 bytes): it was never fully written; "
                              "download or copy it again, or use another checkpoint")
    if head.startswith((_ZIP_MAGIC, b"PK\x05\x06")):  # a zip, or an empty zip
        _check_zip(path)
    elif not (head[:1] == b"\x80" and _LEGACY_MAGIC in head[:32]):
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (its first bytes look like "
                              f"{_looks_like(head)}). {_WHAT_TO_PASS}")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        refused = _REFUSED_OBJECT.search(str(e))
        if refused is None:
            raise _damaged(path, _reason(e)) from None
        what = next(g for g in refused.groups() if g).strip()
        raise CheckpointError(
            f"{path} carries Python code or objects besides weights ({what}), refused for "
            "safety: unpickling it could run that code. Only load files you trust; if you "
            "made it, save just the tensors, e.g. torch.save(model.state_dict(), path).") from None
    except Exception as e:  # whatever torch meets in a damaged file, the user sees one message
        raise _damaged(path, _reason(e)) from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a checkpoint dictionary")
    return obj
