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
The moment of a first result is the page's own: the first animation frame it
shows in, recorded in the browser (``tests.browser_session.Shown``); the line
also says when Playwright noticed it, which polls at growing intervals (up to
500 ms) and so returns up to half a second late. ``--repeats N`` opens each
page on N fresh servers and prints the median. For
a page that takes a picture the line also splits its time: until its uploader
is drawn (the browser loading and booting the page, the script drawing that
far), then from there to the picture's first result (medians of each part).

Each page above opens in a fresh browser, so every page whose first result is
a plotly chart also pays for loading plotly's 4.7 MB of browser code: the
worst case. ``--visit`` then times the way a class moves through the app: one
fresh server, one browser tab that uploads a picture on Predict, then each
page clicked in the sidebar, from the click to its first result (each page's
own computation and caches still cold; the browser's code loaded once). Prints
``PAGE in one visit X.X s``, as Playwright noticed it (the previous page's results
stay in the page a while, so an in-page watch could mistake them for the new one's).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the repository root holds the packages

from tests.app_fixtures import png_bytes  # noqa: E402
from tests.browser_session import (PAGES, TIMEOUT_MS, UPLOADER, Shown, chromium, fresh_env,  # noqa: E402
                                   settle, sidebar_links, streamlit_server, upload, why_no_browser)


def time_page(browser, name: str, picture: Path, ready: bool) -> tuple[float, float, float | None, float]:
    """(server launch to first result, page opened to first result, page opened to its
    uploader drawn or None where it takes no picture (or showed its first result before the
    picture was handed over), page opened to the moment Playwright
    noticed the result), on a fresh server; ``ready``: open the page once the server's
    warm-up is done, as a class finds it when the teacher started the app beforehand.

    The first result's moment is the page's own (``Shown.watch``: the first animation frame
    it shows in). A picture is handed over as soon as Playwright sees the uploader, which
    can be up to half a second after it was drawn: that lag is taken out, as if the picture
    had been handed over at once (a user with a picture ready; the page cannot tell)."""
    path, needs_picture, first_result = PAGES[name]
    with tempfile.TemporaryDirectory() as home:
        launched = time.time()
        with streamlit_server(fresh_env(Path(home)), timeout=300, ready=ready) as url:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            first_result.watch(context, "result")
            Shown(UPLOADER).watch(context, "uploader")
            page = context.new_page()
            opened = time.time()
            page.goto(f"{url}/{path}", timeout=TIMEOUT_MS)
            uploader, lag = None, 0.0
            if needs_picture:
                Shown(UPLOADER)(page)
                handed = time.time()
                uploader = Shown.seen(page, "uploader") - opened
                lag = handed - opened - uploader
                upload(page, picture, TIMEOUT_MS)
            first_result(page)
            noticed = time.time()
            done = Shown.seen(page, "result")
            if needs_picture and done > handed:
                done -= lag
            elif needs_picture:  # shown before the picture was handed over: it did not wait for it
                uploader = None
            context.close()
    return done - launched, done - opened, uploader, noticed - opened


def time_visit(browser, names, picture: Path) -> dict[str, float]:
    """Seconds from clicking each of ``names`` in the sidebar to its first result, in one tab
    on one fresh server (warm-up done, the picture uploaded on Predict first)."""
    times = {}
    with tempfile.TemporaryDirectory() as home:
        with streamlit_server(fresh_env(Path(home)), timeout=300, ready=True) as url:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url, timeout=TIMEOUT_MS)
            upload(page, picture, TIMEOUT_MS)
            PAGES["Predict"][2](page)
            for name in names:
                settle(page, TIMEOUT_MS)
                link = sidebar_links(page)[name]
                clicked = time.perf_counter()
                link.click()
                page.get_by_role("heading", name=name).first.wait_for(timeout=TIMEOUT_MS)
                first_result = PAGES[name][2]
                first_result(page)
                times[name] = time.perf_counter() - clicked
                print(f"{name} in one visit {times[name]:.1f} s", flush=True)
            page.close()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", default=",".join(PAGES), help="comma-separated page names")
    ap.add_argument("--visit", action="store_true", help="also time the pages in one browser visit")
    ap.add_argument("--repeats", type=int, default=1, help="fresh servers per page; prints the median")
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
        cold = time_page(browser, "Predict", picture, ready=False)[0]
        print(f"cold start (server launch to first top 5) {cold:.1f} s", flush=True)
        times = {}
        for name in names:
            runs = [time_page(browser, name, picture, ready=True)[1:] for _ in range(max(a.repeats, 1))]
            times[name] = statistics.median(t for t, _, _ in runs)
            each = f" (median of {', '.join(f'{t:.1f}' for t, _, _ in runs)})" if len(runs) > 1 else ""
            if all(u is not None for _, u, _ in runs):  # where the time goes: up to its uploader, then the picture's work
                up, rest = statistics.median(u for _, u, _ in runs), statistics.median(t - u for t, u, _ in runs)
                each += f"; uploader drawn at {up:.1f} s, its picture's result {rest:.1f} s later"
            each += f"; Playwright noticed it at {statistics.median(p for _, _, p in runs):.1f} s"
            print(f"{name} first result {times[name]:.1f} s{each}", flush=True)
        slowest = max(times, key=times.get)
        print(f"slowest page: {slowest} {times[slowest]:.1f} s", flush=True)
        if a.visit:
            visit = time_visit(browser, [n for n in names if n != "Predict"] + ["Predict"], picture)
            slowest = max(visit, key=visit.get)
            print(f"slowest page in one visit: {slowest} {visit[slowest]:.1f} s")


if __name__ == "__main__":
    main()
