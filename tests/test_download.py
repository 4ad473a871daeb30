"""Downloads (alexnet.download): a real transfer from a local HTTP server, checksums,
and the offline path for real (this machine and CI have no route to the internet)."""

import hashlib
import http.server
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from alexnet.download import DownloadError, fetch

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def served(tmp_path):
    """A folder served over HTTP on localhost: (folder, base URL)."""
    folder = tmp_path / "www"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(folder), **k)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_fetch_downloads_with_progress_and_checks_the_sha256(served, tmp_path):
    folder, url = served
    data = os.urandom(3 * (1 << 20) + 123)  # over several 1 MB chunks
    (folder / "w.pth").write_bytes(data)
    seen = []
    dest = fetch(f"{url}/w.pth", tmp_path / "out" / "w.pth",
                 expected=hashlib.sha256(data).hexdigest()[:8], progress=lambda d, t: seen.append((d, t)))
    assert dest.read_bytes() == data
    assert seen[-1] == (len(data), len(data)) and len(seen) >= 4
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_damaged_download_is_refused_and_leaves_nothing(served, tmp_path):
    folder, url = served
    (folder / "a.tar.gz").write_bytes(b"not what was promised")
    with pytest.raises(DownloadError, match="arrived damaged"):
        fetch(f"{url}/a.tar.gz", tmp_path / "a.tar.gz", digest="md5", expected="c58f30108f718f92721af3b95e74349a")
    assert list(tmp_path.iterdir()) == [folder.parent / "www"]  # no file, no .part


def test_an_unreachable_server_is_one_clear_error(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=f"could not download http://127.0.0.1:{port}/x"):
        fetch(f"http://127.0.0.1:{port}/x", tmp_path / "x")
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.part").exists()


def _offline(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return True
    return False


@pytest.mark.parametrize("what,host,copy", [
    ("imagenet-weights", "download.pytorch.org", "alexnet-owt-7be5be79.pth"),
    ("cifar10", "www.cs.toronto.edu", "cifar-10-python.tar.gz"),
])
def test_offline_the_command_says_what_failed_and_what_to_copy(tmp_path, what, host, copy):
    if not _offline(host):
        pytest.skip(f"{host} resolves: this machine is online, and the test must not download")
    env = dict(os.environ, HOME=str(tmp_path), TORCH_HOME=str(tmp_path / "torch"),
               ALEXNET_DATA_DIR=str(tmp_path / "cifar10"))
    r = subprocess.run([sys.executable, "-m", "alexnet.download", what], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("error: could not download https://")
    assert re.search(rf"copy it to {re.escape(str(tmp_path))}/\S*/{re.escape(copy)}\b", lines[0]), lines[0]
