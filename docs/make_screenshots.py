"""Regenerate the README's screenshots: the app in headless Chromium.

    .venv/bin/python docs/make_screenshots.py PICTURE [--out docs/screenshots]
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the repository root holds the packages
from tests.browser_session import chromium, streamlit_server, upload, wait_for_top5  # noqa: E402

PAGES = ["architecture", "filters", "deconvnet", "occlusion", "invariance", "experiments"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("picture", help="the picture to upload")
    p.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with streamlit_server({}) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        upload(page, a.picture)
        wait_for_top5(page)
        time.sleep(2)  # let plotly finish drawing
        page.screenshot(path=str(out / "predict.png"))
        for name in PAGES:
            page.goto(f"{url}/{name}")
            page.wait_for_selector('[data-testid="stMain"]')
            page.wait_for_load_state("networkidle")
            time.sleep(8)  # pages compute on first visit
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
            print("saved", out / f"{name}.png")


if __name__ == "__main__":
    main()
