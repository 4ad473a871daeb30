"""Fetching what the project does not ship: the full CIFAR-10 and torchvision's ImageNet AlexNet.

    .venv/bin/python -m alexnet.download cifar10            # 163 MB, to the app's data folder
    .venv/bin/python -m alexnet.download imagenet-weights   # 233 MB, to torch's hub cache
    bash run.sh download cifar10|imagenet-weights           # the same

Each download streams to a temporary file beside its target, reports
progress, is checked (CIFAR-10 against torchvision's md5, the weights against
torchvision's sha256 prefix) and only then renamed into place. Offline, each
fails with one line saying what failed and which file to copy where by hand.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.request
from pathlib import Path
from typing import Callable

DATA_ENV = "ALEXNET_DATA_DIR"
Progress = Callable[[int, int], None]  # (bytes so far, total bytes or 0 when unknown)


class DownloadError(RuntimeError):
    """A download failed; the message says what to do instead."""


def data_dir() -> Path:
    """The CIFAR-10 folder the app and the CLI read: ``ALEXNET_DATA_DIR`` or the usual place."""
    return Path(os.environ.get(DATA_ENV, Path.home() / ".cache" / "alexnet-data" / "cifar10")).expanduser()


def fetch(url: str, dest, *, digest: str = "sha256", expected: str = "", progress: Progress | None = None,
          timeout: float = 30.0) -> Path:
    """``url`` -> ``dest``, checked against the hex ``expected`` (a prefix is enough) of ``digest``."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    h = hashlib.new(digest)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
            total, done = int(r.headers.get("Content-Length") or 0), 0
            while chunk := r.read(1 << 20):
                f.write(chunk)
                h.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except OSError as e:  # URLError, timeouts, a full disk
        tmp.unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or e
        raise DownloadError(f"could not download {url} ({reason})") from None
    if expected and not h.hexdigest().startswith(expected):
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"{url} arrived damaged ({digest} {h.hexdigest()[:16]}…, expected "
                            f"{expected[:16]}…); try again")
    tmp.replace(dest)
    return dest


def cifar10(root=None, progress: Progress | None = None) -> Path:
    """torchvision's CIFAR-10 archive into ``root`` (``cifar-10-batches-py``), checked and unpacked."""
    from torchvision.datasets import CIFAR10

    root = Path(root).expanduser() if root else data_dir()
    archive = root / CIFAR10.filename
    if not (root / CIFAR10.base_folder / "test_batch").is_file():
        try:
            if not archive.is_file():
                fetch(CIFAR10.url, archive, digest="md5", expected=CIFAR10.tgz_md5, progress=progress)
            CIFAR10(str(root), train=False, download=True)  # torchvision checks the md5 and unpacks
        except DownloadError as e:
            raise DownloadError(f"{e}. Offline? On a machine with internet fetch {CIFAR10.url} "
                                f"(163 MB) and copy it to {archive}, then run this again") from None
        except (OSError, RuntimeError) as e:
            raise DownloadError(f"{archive} could not be unpacked ({e}); delete it and run this "
                                "again") from None
    archive.unlink(missing_ok=True)  # the unpacked batches are all that is read
    return root / CIFAR10.base_folder


def imagenet_weights(progress: Progress | None = None) -> Path:
    """torchvision's ImageNet AlexNet (``alexnet-owt-7be5be79.pth``) into torch's hub cache."""
    from .weights import TORCHVISION_FILE, TORCHVISION_URL, imagenet_cache_path

    path = imagenet_cache_path()
    if path.is_file():
        return path
    prefix = TORCHVISION_FILE.split("-")[-1].split(".")[0]  # torchvision names files by sha256 prefix
    try:
        return fetch(TORCHVISION_URL, path, expected=prefix, progress=progress)
    except DownloadError as e:
        raise DownloadError(f"{e}. Offline? On a machine with internet fetch {TORCHVISION_URL} "
                            f"(233 MB) and copy it to {path}") from None


WHAT = {"cifar10": cifar10, "imagenet-weights": imagenet_weights}


def main(argv=None) -> None:
    import argparse

    p = argparse.ArgumentParser(prog="python -m alexnet.download", description=__doc__.splitlines()[0])
    p.add_argument("what", choices=list(WHAT))
    a = p.parse_args(argv)
    from tqdm import tqdm

    bars = []  # made at the first bytes, so an offline failure prints its one line only

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total or None, unit="B", unit_scale=True, desc=a.what))
        bars[0].update(done - bars[0].n)

    try:
        where = WHAT[a.what](progress=progress)
    except DownloadError as e:
        sys.exit(f"error: {e}")
    finally:
        for b in bars:
            b.close()
    if a.what == "imagenet-weights":
        from .weights import load_imagenet

        m = load_imagenet()  # checks torchvision's checksum again and loads it weights_only
        print(f"ok: {where} ({len(m.classes)} classes, sha256 checked)")
    else:
        print(f"ok: {where} (md5 checked; the app reads it from {where.parent})")


if __name__ == "__main__":
    main()
