"""End to end in a real headless Chromium: the app loads, a picture is uploaded, the
top 5 appear, a bad file gets a message, every page opens without an error, and
two browser sessions do not see each other's pictures.

Screenshots go to a temporary folder, or to ``ALEXNET_SCREENSHOTS`` when set
(e.g. ``ALEXNET_SCREENSHOTS=docs/screenshots pytest tests/test_browser.py``).
"""

import os
from pathlib import Path

import pytest

from tests.app_fixtures import cifar_env, png_bytes
from tests.browser_session import (PAGES, TOP5_ROW, chromium, explained, fresh_env, settle, sidebar_links,
                                   streamlit_server, upload, wait_for_top5, why_no_browser)

REASON = why_no_browser()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"browser test skipped: {REASON}")
EXCEPTION = '[data-testid="stException"]'


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with streamlit_server(cifar_env(tmp_path_factory.mktemp("browser"))) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as b:
        yield b


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("ALEXNET_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_upload_top5_bad_file_and_every_page(server, browser, shots, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server, timeout=180_000)
    page.get_by_role("heading", name="Predict").wait_for(timeout=90_000)
    # the heading can arrive before the rest of the first script run: wait, then look
    page.get_by_text("No picture yet").wait_for(timeout=30_000)

    good = tmp_path / "photo.png"
    good.write_bytes(png_bytes(64, 48, seed=5))
    upload(page, good)
    assert wait_for_top5(page) == 5
    settle(page)
    assert page.locator(EXCEPTION).count() == 0
    page.screenshot(path=str(shots / "predict.png"), full_page=True)

    bad = tmp_path / "not-a-picture.png"
    bad.write_bytes(b"plain text, not pixels\n" * 20)
    upload(page, bad)
    page.get_by_text("not an image we can read (PNG, JPEG, WebP, BMP, GIF)").wait_for(timeout=30_000)
    assert page.locator(EXCEPTION).count() == 0
    assert page.locator(TOP5_ROW).count() == 0
    upload(page, good)  # back to a good picture for the other pages
    wait_for_top5(page)

    links = sidebar_links(page)
    for title in ("Architecture", "Neighbours", "Invariance", "Evolution", "Experiments",
                  "Feature maps", "Attribution", "Feature visualisation"):
        assert title in links
    for i, (title, link) in enumerate(links.items()):
        link.click()
        page.get_by_role("heading", name=title).first.wait_for(timeout=90_000)
        settle(page)
        assert page.locator(EXCEPTION).count() == 0, f"page {title!r} shows an exception"
        name = page.url.rstrip("/").rsplit("/", 1)[-1] or "home"
        page.screenshot(path=str(shots / f"page-{i}-{name}.png"), full_page=True)

    # Feature visualisation runs on a click, with a progress bar, and shows the unit's picture.
    links["Feature visualisation"].click()
    page.get_by_role("button", name="Visualise").click()
    page.get_by_text("act5 unit 0:").first.wait_for(timeout=180_000)
    settle(page)
    assert page.locator(EXCEPTION).count() == 0
    page.screenshot(path=str(shots / "featvis.png"), full_page=True)
    page.close()


def test_two_sessions_are_independent(server, browser, tmp_path):
    a, b = browser.new_context().new_page(), browser.new_context().new_page()
    for p in (a, b):
        p.goto(server, timeout=180_000)
        p.get_by_role("heading", name="Predict").wait_for(timeout=90_000)
    pic = tmp_path / "a.png"
    pic.write_bytes(png_bytes(40, 40, seed=9))
    upload(a, pic)
    assert wait_for_top5(a) == 5
    b.reload(timeout=180_000)
    b.get_by_role("heading", name="Predict").wait_for(timeout=90_000)
    b.get_by_text("No picture yet").wait_for(timeout=30_000)
    settle(b)
    assert b.locator(TOP5_ROW).count() == 0


NO_DATA = ("No CIFAR-10", "extract the dataset", "cifar10-jpeg", "No training snapshots")


def test_a_fresh_home_without_the_dataset_shows_results_on_every_page(browser, tmp_path, shots):
    """HOME empty, no dataset, no caches: every page shows its result, none a "no data" note,
    and the pages that read CIFAR-10 say in one line that they read the embedded sample."""
    home = tmp_path / "home"
    home.mkdir()
    with streamlit_server(fresh_env(home)) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, timeout=180_000)
        photo = tmp_path / "photo"  # a JPEG without an extension: read by its content
        photo.write_bytes(png_bytes(64, 48, seed=12, fmt="JPEG"))
        upload(page, photo)
        assert wait_for_top5(page) == 5
        links = sidebar_links(page)
        for name, (path, _, first_result) in PAGES.items():
            links[name].click()
            with explained(page, url, f"{name} shows its first result"):
                page.get_by_role("heading", name=name).first.wait_for(timeout=90_000)
                first_result(page)
                settle(page)
            body = page.locator("section.main, [data-testid='stMain']").first.inner_text()
            assert not [n for n in NO_DATA if n in body], f"{name} shows a no-data note"
            assert page.locator(EXCEPTION).count() == 0, f"{name} shows an exception"
            early = page.locator(".st-key-plotly_early")  # app.charts.load_plotly_early
            assert early.count() == 0 or early.first.is_hidden(), f"{name} shows an empty chart"
            if name in ("Neighbours", "Deconvnet", "Evolution", "Experiments"):
                assert "embedded sample" in body, name
            page.screenshot(path=str(shots / f"fresh-{path or 'predict'}.png"), full_page=True)
        page.close()
