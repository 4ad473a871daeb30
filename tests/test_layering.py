"""The layering of DESIGN.md: app/ -> analysis/ -> alexnet/, never the other way."""

import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported_after(modules: list[str]) -> set[str]:
    """Top-level packages in sys.modules after importing ``modules`` in a fresh interpreter."""
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(' '.join(sorted({k.split('.')[0] for k in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_alexnet_imports_neither_analysis_nor_app():
    mods = [f"alexnet.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "alexnet")])]
    loaded = _imported_after(mods)
    assert "analysis" not in loaded and "app" not in loaded and "streamlit" not in loaded


def test_analysis_imports_neither_app_nor_streamlit():
    mods = [f"analysis.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "analysis")])]
    mods += [f"analysis.experiments.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "analysis" / "experiments")])
             if m.name != "__main__"]
    loaded = _imported_after(mods)
    assert "app" not in loaded and "streamlit" not in loaded
