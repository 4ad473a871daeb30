"""Regenerate the README's screenshots: the app in headless Chromium.

    .venv/bin/python docs/make_screenshots.py PICTURE [--out docs/screenshots]
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the repository root holds the packages
from tests.browser_session import (PAGES, TIMEOUT_MS, chromium, settle, sidebar_links,  # noqa: E402
                                   streamlit_server, upload, wait_for_top5)

SHOTS = ["Architecture", "Filters", "Deconvnet", "Occlusion", "Invariance", "Experiments"]


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
        for title in SHOTS:  # through the sidebar: a new URL would be a new session, without the picture
            sidebar_links(page)[title].click()
            page.get_by_role("heading", name=title).first.wait_for(timeout=TIMEOUT_MS)
            path, _, first_result = PAGES[title]
            first_result(page)
            settle(page, TIMEOUT_MS)
            time.sleep(2)  # let plotly finish drawing
            page.screenshot(path=str(out / f"{path}.png"), full_page=True)
            print("saved", out / f"{path}.png")


if __name__ == "__main__":
    main()
