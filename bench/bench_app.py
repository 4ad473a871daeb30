"""How fast the app answers in a real browser (headless Chromium, Playwright).

    python bench/bench_app.py [--runs 3] [--uploads 3]

cold start: from launching the server (``python -m app.serve``) to the first top-5 chart drawn
for an uploaded picture (server start, page load, model load, prediction).
upload -> top 5: on a warm server, from handing the file to the uploader to
the chart drawn, for pictures the app has not seen (no cache hits).
Prints the median of each. Uses the shipped CIFAR-10 model when it exists,
else a randomly initialised one in the same checkpoint format.
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

from tests.app_fixtures import cifar_env, png_bytes  # noqa: E402
from tests.browser_session import chromium, streamlit_server, upload, wait_for_top5, why_no_browser  # noqa: E402


def one_run(env: dict, tmp: Path, uploads: int, seed: int) -> tuple[float, list[float]]:
    pictures = []
    for i in range(uploads + 1):
        p = tmp / f"picture-{seed}-{i}.png"
        p.write_bytes(png_bytes(320, 240, seed=1000 * seed + i))
        pictures.append(p)
    start = time.perf_counter()
    with chromium() as browser, streamlit_server(env) as url:
        page = browser.new_page()
        page.goto(url, timeout=300_000)
        upload(page, pictures[0])
        wait_for_top5(page, timeout_ms=600_000)
        cold = time.perf_counter() - start
        warm = []
        for p in pictures[1:]:
            page.wait_for_timeout(500)
            t = time.perf_counter()
            upload(page, p)
            page.get_by_text(p.name).wait_for(timeout=60_000)
            wait_for_top5(page)
            page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=60_000)
            warm.append(time.perf_counter() - t)
    return cold, warm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="cold starts to time")
    ap.add_argument("--uploads", type=int, default=3, help="warm uploads per run")
    a = ap.parse_args()
    reason = why_no_browser()
    if reason:
        sys.exit(f"cannot run the browser benchmark: {reason}")
    colds, warms = [], []
    with tempfile.TemporaryDirectory() as d:
        env = cifar_env(Path(d))
        for r in range(a.runs):
            cold, warm = one_run(env, Path(d), a.uploads, r)
            colds.append(cold)
            warms += warm
            print(f"run {r + 1}: cold start to first top 5 {cold:.1f} s; upload -> top 5 "
                  + ", ".join(f"{w:.2f}" for w in warm) + " s", flush=True)
    print(f"median cold start to first prediction: {statistics.median(colds):.1f} s "
          f"over {len(colds)} runs")
    print(f"median upload -> top 5 (warm server): {statistics.median(warms):.2f} s "
          f"over {len(warms)} uploads")


if __name__ == "__main__":
    main()
