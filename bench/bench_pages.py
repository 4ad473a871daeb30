"""How soon each page shows a result on a fresh machine (headless Chromium, Playwright).

    .venv/bin/python bench/bench_pages.py [--pages neighbours,deconvnet]

For every page: a fresh server (``python -m app.serve``, as ``bash run.sh app``) whose HOME is an empty temporary
folder (no dataset, no decoded or page-data caches, no torch hub weights),
then, once the server says its warm-up is done, the seconds from opening
the page (and, where it needs one, handing it a picture) to its first
result drawn. The first line times the cold start: from launching the
server to the first top 5 on Predict, the warm-up included. Prints
``PAGE first result X.X s`` per page, then ``slowest page: NAME X.X s``.
Uses the shipped CIFAR-10 model and the embedded sample, as a new user would.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the repository root holds the packages

from tests.app_fixtures import png_bytes  # noqa: E402
from tests.browser_session import (PAGES, TIMEOUT_MS, chromium, fresh_env,  # noqa: E402
                                   streamlit_server, upload, why_no_browser)


def time_page(browser, name: str, picture: Path, ready: bool) -> tuple[float, float]:
    """(server launch to first result, page opened to first result), on a fresh server;
    ``ready``: open the page once the server's warm-up is done, as a class finds it when
    the teacher started the app beforehand."""
    path, needs_picture, first_result = PAGES[name]
    with tempfile.TemporaryDirectory() as home:
        launched = time.perf_counter()
        with streamlit_server(fresh_env(Path(home)), timeout=300, ready=ready) as url:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            opened = time.perf_counter()
            page.goto(f"{url}/{path}", timeout=TIMEOUT_MS)
            if needs_picture:
                upload(page, picture, TIMEOUT_MS)
            first_result(page)
            done = time.perf_counter()
            context.close()
    return done - launched, done - opened


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", default=",".join(PAGES), help="comma-separated page names")
    a = ap.parse_args()
    reason = why_no_browser()
    if reason:
        sys.exit(f"cannot run the browser benchmark: {reason}")
    names = [n.strip().capitalize() for n in a.pages.split(",")]
    unknown = [n for n in names if n not in PAGES]
    if unknown:
        sys.exit(f"unknown page(s) {unknown}; choose from {', '.join(PAGES)}")
    with tempfile.TemporaryDirectory() as d, chromium() as browser:
        picture = Path(d) / "picture.png"
        picture.write_bytes(png_bytes(320, 240, seed=7))
        cold, _ = time_page(browser, "Predict", picture, ready=False)
        print(f"cold start (server launch to first top 5) {cold:.1f} s", flush=True)
        times = {}
        for name in names:
            _, times[name] = time_page(browser, name, picture, ready=True)
            print(f"{name} first result {times[name]:.1f} s", flush=True)
    slowest = max(times, key=times.get)
    print(f"slowest page: {slowest} {times[slowest]:.1f} s")


if __name__ == "__main__":
    main()
