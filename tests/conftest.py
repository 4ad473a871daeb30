"""Fixtures shared by the test modules.

Helpers that are plain functions or constants are imported instead:
``tests.nets`` (small seeded AlexNets), ``tests.synthetic_data`` (generated
image folders), ``tests.app_fixtures`` (the app's model and test pictures),
``tests.waiting`` (bounded waits on subprocesses).
"""

import sys

import pytest

from tests.synthetic_data import make_image_folder


@pytest.fixture(autouse=True)
def _pytest_stays_main():
    """Streamlit's AppTest installs each script it runs as ``sys.modules["__main__"]`` and
    leaves it there, so a later test's ``multiprocessing`` spawn child would rerun that
    script (an app page, or a deleted temporary file) before its own work: put it back."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """``ALEXNET_CACHE`` in the test's own folder: decode caches and scans never reach ~/.cache.

    Subprocesses the test starts inherit it through the environment.
    """
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """4 learnable classes, 16 32x32 images each in ``train/`` and ``val/`` (one per module)."""
    return make_image_folder(tmp_path_factory.mktemp("synth"), per_class=16)
