"""Every page with torchvision's ImageNet AlexNet (a torchvision-format state dict with random
weights, see imagenet_fixtures.py) over a small generated picture folder, through AppTest.

The references are torchvision's own: its category names, its TenCrop, its AlexNet module.
"""

from pathlib import Path

import pytest
import torch
import torchvision
from streamlit.testing.v1 import AppTest
from torchvision import transforms as T

from alexnet.collection import scan_folder
from alexnet.data import IMAGENET_MEAN, IMAGENET_STD
from alexnet.images import load_image
from analysis import page_data
from app import jobs

from tests.app_fixtures import computed, plotly_charts, top5
from tests.imagenet_fixtures import accept, class_folder, flat_folder, imagenet_weights, picture

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
NO_DATA = ("which only the CIFAR-10 model reads", "No CIFAR-10", "weights are not on this machine", "failed")
PAGES = sorted(p.stem for p in (Path(APP).parent / "app" / "pages").glob("*.py"))  # a new page joins


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("imagenet")
    digest = imagenet_weights(tmp / "torch")
    return {"tmp": tmp, "digest": digest, "classes": class_folder(tmp / "pictures"),
            "flat": flat_folder(tmp / "flat")}


@pytest.fixture
def app(setup, monkeypatch, tmp_path):
    accept(monkeypatch, setup["digest"])  # the random file stands in for the real download
    for k, v in {"TORCH_HOME": setup["tmp"] / "torch", "ALEXNET_CACHE": setup["tmp"] / "cache",
                 "ALEXNET_DATA_DIR": tmp_path / "no-cifar10"}.items():
        monkeypatch.setenv(k, str(v))
    monkeypatch.delenv("ALEXNET_IMAGES", raising=False)
    (setup["tmp"] / "cache" / "images_folder.txt").unlink(missing_ok=True)
    at = AppTest.from_file(APP, default_timeout=600).run()
    assert not at.exception, at.exception
    at.sidebar.radio(key="model_name").set_value("imagenet").run()
    return at


def choose(at, folder):
    at.sidebar.text_input(key="images_folder").input(str(folder)).run()
    assert not at.exception, at.exception
    return at


def visit(at, name):
    at.switch_page(f"app/pages/{name}.py").run()
    assert not at.exception, (name, at.exception)
    computed(at)
    notes = [e.value for kind in ("info", "warning", "error") for e in at.get(kind)]
    assert not [n for n in notes if any(s in n for s in NO_DATA)], (name, notes)
    return at


def texts(at, kind="caption"):
    return [e.value for e in at.get(kind)]


def test_every_page_shows_results_over_a_class_folder(app, setup):
    at = choose(app, setup["classes"])
    assert "25 pictures, 3 classes" in texts(at.sidebar)  # by name: one turns out not to be one
    at.file_uploader[0].set_value(("photo.jpg", picture(3, 1), "image/jpeg")).run()
    for name in PAGES:
        visit(at, name)
        if name == "deconvnet":
            assert len(at.image) == 18  # nine patches and nine projections
            # kept on disk under the weights' sha256 and the folder's listing
            kept = page_data.key("collection", setup["digest"], scan_folder(setup["classes"]).digest)
            store = jobs._server()[0]  # AppTest runs the app here; its store is the process's first
            assert (store.folder / f"{kept}.pt").is_file()
            assert any("1 of 25 files cannot be read" in t and "broken.jpg" in t for t in texts(at))
        elif name == "feature_maps":
            assert len(at.image) == 18
        elif name == "neighbours":
            assert len(at.image) == 7 and all("distance" in c for i in at.image[1:] for c in i.captions)
        elif name == "occlusion":
            assert len(at.image) == 4 and not plotly_charts(at)
        elif name == "filters":
            assert any("64 conv1 kernels of 11x11 pixels, in one tower" in t for t in texts(at))
        elif name == "evolution":
            assert any("torchvision ships no training snapshots" in t for t in texts(at, "info"))
        elif name == "correspondence":
            assert len(at.dataframe) == 2
        elif name == "transfer":  # the sidebar's folder, with its class folders, is the default
            assert at.text_input(key="tr_folder").value == str(setup["classes"])
            assert any(t.startswith("3 classes, ") for t in texts(at)), texts(at)
        elif name == "layer_features":
            at.button(key="lf_run").click().run()
            assert not at.exception and len(at.get("vega_lite_chart")) == 1
            assert [r for r in at.table[0].value["layer"]] == [f"act{i}" for i in range(1, 8)]


def test_predict_shows_imagenet_classes_and_ten_crops_at_224(app):
    data = picture(5, 2, (320, 280))
    app.file_uploader[0].set_value(("photo.jpg", data, "image/jpeg")).run()
    app.toggle(key="ten_crop").set_value(True).run()
    title, names, probs = top5(app)
    assert "10 crops" in title
    categories = torchvision.models.AlexNet_Weights.IMAGENET1K_V1.meta["categories"]
    # Reference: torchvision's module, its TenCrop of the 256x256 centre (AK 4.1), softmax averaged.
    torch.manual_seed(0)
    tv = torchvision.models.alexnet(weights=None).eval()
    crops = T.Compose([T.Resize(256), T.CenterCrop(256), T.TenCrop(224)])(load_image(data))
    norm = T.Compose([T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    with torch.no_grad():
        p = tv(torch.stack([norm(c) for c in crops])).softmax(1).mean(0)
    for name, prob in zip(names, probs):
        assert prob == pytest.approx(float(p[categories.index(name)]), rel=1e-3)
    assert any("what the net sees: 224x224" in str(e.proto) for e in app.main if type(e).__name__ == "Image")


def test_a_flat_folder_serves_the_search_pages(app, setup):
    at = choose(app, setup["flat"])
    assert "12 pictures (no class folders)" in texts(at.sidebar)
    at.radio(key="predict_source").set_value("Sample").run()
    at.selectbox(key="predict_folder_sample").set_value("p04.jpg").run()  # a sample from the folder
    assert at.session_state.image_name == "p04.jpg"
    assert len(visit(at, "deconvnet").image) == 18
    assert len(visit(at, "neighbours").image) == 7
    at.switch_page("app/pages/layer_features.py").run()
    assert any("has no class folders" in t for t in texts(at, "info"))


def test_without_a_folder_the_search_pages_say_how_to_choose_one(app):
    app.file_uploader[0].set_value(("photo.jpg", picture(3), "image/jpeg")).run()
    for name in ("deconvnet", "neighbours", "layer_features", "correspondence"):
        app.switch_page(f"app/pages/{name}.py").run()
        assert not app.exception
        notes = texts(app, "info")
        assert any("type a folder's path under *Picture folder*" in n for n in notes), (name, notes)
        assert not any("CIFAR-10" in n for n in notes), (name, notes)


def test_a_wrong_folder_gets_one_line(app, setup):
    at = choose(app, setup["tmp"] / "nowhere")
    (error,) = texts(at.sidebar, "error")
    assert "is not a folder on this machine" in error and "\n" not in error


def test_the_folder_is_remembered_across_restarts_and_read_from_the_environment(app, setup, monkeypatch):
    choose(app, setup["classes"])
    again = AppTest.from_file(APP, default_timeout=600).run()  # a new server, the same cache folder
    assert again.session_state.images_folder == str(setup["classes"])
    (setup["tmp"] / "cache" / "images_folder.txt").unlink()
    monkeypatch.setenv("ALEXNET_IMAGES", str(setup["flat"]))
    fresh = AppTest.from_file(APP, default_timeout=600).run()
    assert fresh.session_state.images_folder == str(setup["flat"])


def test_the_cifar_model_keeps_cifar10_and_offers_the_folder(app, setup):
    at = choose(app, setup["classes"])
    at.sidebar.radio(key="model_name").set_value("cifar10").run()
    at.file_uploader[0].set_value(("photo.jpg", picture(3, 1), "image/jpeg")).run()
    visit(at, "deconvnet")
    assert at.radio(key="deconv_source_set").value == "CIFAR-10"
    assert any("#" in c for i in at.image for c in i.captions)  # CIFAR-10 test images by number
    at.radio(key="deconv_source_set").set_value("your folder (pictures)").run()
    computed(at)
    captions = [c for i in at.image for c in i.captions if c != "projection"]
    assert len(captions) == 9 and all(c.split("/")[0] in ("blue", "green", "red") for c in captions)
