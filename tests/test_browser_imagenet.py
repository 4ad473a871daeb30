"""End to end in Chromium with torchvision's ImageNet AlexNet (random weights in torchvision's
format, tests/imagenet_fixtures.py) over a generated picture folder named by ``ALEXNET_IMAGES``:
the model is chosen in the sidebar, a picture uploaded, and every page shows its result."""

import re

import pytest

from tests.app_fixtures import cifar_env
from tests.browser_session import (chromium, explained, sidebar_links, streamlit_server, upload,
                                   wait_for_top5, why_no_browser)
from tests.imagenet_fixtures import class_folder, imagenet_weights, picture

REASON = why_no_browser()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"browser test skipped: {REASON}")
EXCEPTION = '[data-testid="stException"]'
TIMEOUT_MS = 600_000
# page title -> what its first result looks like with the ImageNet model and the folder
RESULTS = {
    "Predict": None,
    "Filters": "conv1 kernels of 11x11 pixels, in one tower",
    "Neighbours": r"distance \d",
    "Deconvnet": r"^projection$",
    "Feature maps": r"^projection$",
    "Occlusion": r"^Unoccluded: ",
    "Evolution": "torchvision ships no training snapshots",
    "Correspondence": "Random minus your part",
    "Layer features": r"Press \*?\*?Run",
}


def test_every_page_with_the_imagenet_model_over_a_picture_folder(tmp_path):
    env = cifar_env(tmp_path)
    env.update({"TORCH_HOME": str(tmp_path / "torch"), "ALEXNET_IMAGES": str(class_folder(tmp_path / "pics")),
                "ALEXNET_TEST_IMAGENET_SHA256": imagenet_weights(tmp_path / "torch")})
    with streamlit_server(env, module="tests.serve_test_weights") as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url, timeout=180_000)
        page.get_by_text("No picture yet").wait_for(timeout=90_000)
        page.get_by_text("ImageNet AlexNet (torchvision)").click()
        page.get_by_text("25 pictures, 3 classes").wait_for(timeout=60_000)  # ALEXNET_IMAGES, listed
        photo = tmp_path / "photo.jpg"
        photo.write_bytes(picture(4, 0))
        upload(page, photo)
        assert wait_for_top5(page, TIMEOUT_MS) == 5
        page.get_by_text("what the net sees: 224x224").wait_for(timeout=60_000)
        links = sidebar_links(page)
        for title, result in RESULTS.items():
            links[title].click()
            with explained(page, url, f"{title} shows {result or 'its heading'}"):
                page.get_by_role("heading", name=title).first.wait_for(timeout=90_000)
                if result:
                    page.get_by_text(re.compile(result)).first.wait_for(timeout=TIMEOUT_MS)
                page.wait_for_timeout(300)
                page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=TIMEOUT_MS)
            body = page.locator("[data-testid='stMain']").first.inner_text()
            assert "which only the CIFAR-10 model reads" not in body, title
            assert page.locator(EXCEPTION).count() == 0, f"{title} shows an exception"
        page.close()
