"""Start the app with its slow parts done first, so the first page answers at once.

    .venv/bin/python -m app.serve [streamlit options]     # what `bash run.sh app` runs

``streamlit run`` imports nothing of the app until the first browser
session, which then waits for torch and torchvision to import (seconds on
two cores), the model to load and the shipped page data to be read. Here
those start at once, in a thread beside the server's own start-up and the
browser's first page load, so the three overlap instead of adding up. The
caches they fill are the app's own (``st.cache_resource``, whose per-key
lock makes a session that asks early wait for the same load rather than
repeat it), so every session finds them warm. Reading the dataset (the
sample, or the full set the first time: minutes) follows in that thread.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def warm() -> None:
    """Import and load what every first page needs (once per server)."""
    import plotly.graph_objects  # noqa: F401 - the pages draw with it and altair (below)
    import torchvision.transforms.v2  # noqa: F401 - the model's preprocessing

    from alexnet.weights import available

    from . import jobs, resources

    if available()["cifar10"]:
        loaded, _ = resources.model("cifar10")  # cache_resource: the sessions' own cache
        if loaded is not None:
            resources.model_sha(loaded)
    jobs._server()  # reads pretrained/page_data.pt
    resources.featvis_shipped()  # reads pretrained/featvis.pt
    import analysis.deconv  # noqa: F401 - the pages' analyses
    import analysis.invariance  # noqa: F401
    import analysis.occlusion  # noqa: F401
    # Not first: while the main thread still imports streamlit (which configures plotly),
    # this thread importing numpy through altair made streamlit's import fail on a partly
    # initialised numpy (bench_pages, 2026-12-02).
    import altair  # noqa: F401 - app.vega's charts (and pandas, which altair leaves out)
    import pandas  # noqa: F401
    # Last: Attribution's captum (and the matplotlib it imports) would otherwise be imported
    # while its first picture waits (its first result 2.8 -> 2.5 s, bench/bench_pages.py).
    import captum.attr  # noqa: F401


def warm_data() -> None:
    """Decode the CIFAR-10 the pages read and hash it (page-data keys)."""
    from . import resources

    for train in (False, True):
        try:
            resources.data_sha(train)
        except Exception:  # noqa: BLE001 - a broken dataset is reported by the page that reads it
            pass


def import_soon(module: str) -> None:
    """Import ``module`` in a background thread (once), so that a page that needs it later
    finds it imported; a page asking for it meanwhile waits on Python's import lock."""
    if module not in sys.modules and not any(t.name == f"import {module}" for t in threading.enumerate()):
        threading.Thread(target=importlib.import_module, args=(module,), daemon=True,
                         name=f"import {module}").start()


def _warm_all() -> None:
    """``warm`` then ``warm_data``, beside the server's start; a failure here is the pages' to report."""
    start = time.perf_counter()
    print("AlexNet Lab: loading torch, the model and the shipped page data…", flush=True)
    try:
        warm()
    except Exception as e:  # noqa: BLE001 - the page that needs it shows the real message
        print(f"AlexNet Lab: warming up failed ({type(e).__name__}: {e}); pages will load on demand",
              flush=True)
        return
    print(f"AlexNet Lab: model and page data ready in {time.perf_counter() - start:.1f} s", flush=True)
    warm_data()


def main(argv=None) -> None:
    args = sys.argv[1:] if argv is None else argv
    sys.path.insert(0, str(ROOT))
    threading.Thread(target=_warm_all, daemon=True, name="warm").start()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(ROOT / "streamlit_app.py"), *args]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
