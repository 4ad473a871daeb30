"""The Streamlit app, page by page, through streamlit.testing.v1.AppTest (no browser).

The browser end of the same story (a real upload in Chromium) is test_browser.py.
"""

import base64
import json
import tempfile
from pathlib import Path

import numpy as np

import pytest
import torch
from streamlit.testing.v1 import AppTest

from alexnet.images import load_image
from alexnet.weights import load_model
from analysis.experiments import EXPERIMENTS

from tests.app_fixtures import cifar_env, computed, plotly_charts, png_bytes, top5, vega_tables
from tests.waiting import PROCESS_BOUND, wait_until

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
TIMEOUT = 300  # seconds per script run: generous, a loaded CI machine can be slow


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return cifar_env(tmp_path_factory.mktemp("app"))


@pytest.fixture
def app(env, monkeypatch):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    return at


def charts(at):
    return [json.loads(c.proto.spec) for c in plotly_charts(at)]


def page(at, path):
    at.switch_page(path).run()
    assert not at.exception, at.exception
    return computed(at)


def test_predict_page_starts_empty(app):
    assert app.title[0].value == "Predict"
    assert not app.file_uploader[0].allowed_type  # any file: judged by its content, not its name
    assert any("No picture yet" in i.value for i in app.info)
    assert top5(app) is None


def test_upload_gives_five_predictions_matching_the_model(app, env):
    data = png_bytes(seed=3)
    app.file_uploader[0].set_value(("photo.png", data, "image/png")).run()
    assert not app.exception and not app.error
    _, classes, probs = top5(app)
    assert len(classes) == 5 and probs == sorted(probs, reverse=True)
    # Independent of the app: the registry's model on the same picture, divided by
    # the manifest's temperature when it has one.
    loaded = load_model("cifar10")
    t = loaded.info.get("calibration", {}).get("temperature", 1.0)
    with torch.no_grad():
        ref = (loaded.model(loaded.preprocess(load_image(data))) / t).softmax(-1)[0].topk(5)
    assert classes == [loaded.classes[i] for i in ref.indices.tolist()]
    assert probs == pytest.approx(ref.values.tolist(), abs=1e-5)
    # Beside the upload: the 32x32 picture the net sees, and the classes it knows.
    assert any("what the net sees: 32x32" in str(e.proto) for e in app.main if type(e).__name__ == "Image")
    assert any("The 10 classes this model knows: airplane" in c.value for c in app.caption)
    assert app.expander and "how far to trust" in app.expander[0].label
    assert not plotly_charts(app)  # the landing page needs no plotly until "About" is opened
    app.session_state["about_model"] = True  # open it
    app.run()
    shifted = loaded.info.get("shifted_test")  # the shipped manifest's; a test override has none
    said = " ".join(m.value for m in app.markdown)
    assert shifted is None or f"**{shifted['mean_top1_accuracy']:.1%}** on average" in said
    epochs = loaded.info.get("epochs")
    assert epochs is None or f"Trained {epochs} epochs on CIFAR-10's training images; it predicts with " \
                             f"{loaded.info.get('weights', f'the weights at the end of epoch {epochs}')}." in said
    cal = loaded.info.get("calibration", {})
    if "reliability_after" in cal:  # the reliability diagram: one bar per non-empty bin
        (fig,) = charts(app)
        block = cal["reliability_after"]
        assert arr(fig["data"][0]["y"]).tolist() == [a for a, n in zip(block["accuracy"], block["count"]) if n]

    app.toggle(key="ten_crop").set_value(True).run()
    title, classes, _ = top5(app)
    assert "10 crops" in title and len(classes) == 5


@pytest.mark.parametrize("name,data,message", [
    ("notes.png", b"these are not pixels" * 10, "not an image we can read (PNG, JPEG, WebP, BMP, GIF)"),
    ("empty.jpg", b"", "empty (0 bytes)"),
    ("half.jpg", png_bytes(64, 64, fmt="JPEG")[:700], "truncated"),
])
def test_bad_upload_gives_a_message_not_a_traceback(app, name, data, message):
    app.file_uploader[0].set_value(("good.png", png_bytes(), "image/png")).run()
    assert top5(app)
    app.file_uploader[0].set_value((name, data, "image/png")).run()
    assert not app.exception
    assert any(message in e.value and name in e.value for e in app.error)
    assert top5(app) is None  # the previous picture's predictions are gone


def test_a_jpeg_without_extension_is_read_by_its_content(app):
    data = png_bytes(64, 48, seed=8, fmt="JPEG")
    app.file_uploader[0].set_value(("photo", data, "application/octet-stream")).run()
    assert not app.exception and not app.error
    _, classes, _ = top5(app)
    loaded = load_model("cifar10")
    with torch.no_grad():
        top = loaded.model(loaded.preprocess(load_image(data)))[0].argmax()
    assert classes[0] == loaded.classes[int(top)]


def test_the_sidebar_names_the_picture_of_this_run(app):
    app.file_uploader[0].set_value(("first.png", png_bytes(seed=1), "image/png")).run()
    assert [c.value for c in app.sidebar.caption][0] == "Current picture: first.png"
    app.file_uploader[0].set_value(("second.png", png_bytes(seed=2), "image/png")).run()
    assert [c.value for c in app.sidebar.caption][0] == "Current picture: second.png"  # not first.png


def test_imagenet_without_weights_says_how_to_get_them(app):
    app.file_uploader[0].set_value(("photo.png", png_bytes(), "image/png")).run()
    app.sidebar.radio(key="model_name").set_value("imagenet").run()
    assert not app.exception
    assert any("bash run.sh download imagenet-weights" in w.value for w in app.warning)
    assert top5(app) is None


def test_sessions_are_independent(env, monkeypatch, app):
    app.file_uploader[0].set_value(("photo.png", png_bytes(), "image/png")).run()
    other = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert other.session_state.image_bytes is None and top5(other) is None
    assert app.session_state.image_bytes is not None


def test_architecture_page(app):
    page(app, "app/pages/architecture.py")
    assert app.title[0].value == "Architecture"
    df = app.dataframe[0].value
    row = df.set_index("layer").loc["conv1"]
    assert row["output"] == "96 x 55 x 55" and row["parameters"] == 34_944
    assert app.metric[0].value == "60.97 M"  # AK: "60 million parameters"
    dot = app.get("graphviz_chart")[0].proto.spec
    assert "conv3_A" in dot and 'color="#cc0000"' in dot  # the towers talk at conv3
    app.radio(key="arch_variant").set_value("alexnet_cifar").run()
    assert app.dataframe[0].value.set_index("layer").loc["pool5", "output"] == "128 x 4 x 4"


def test_filters_page(app):
    page(app, "app/pages/filters.py")
    assert app.title[0].value == "Filters"
    assert captions(app) == ["conv1, tower A", "conv1, tower B"]  # the kernels, as pictures
    assert [f["data"][0]["type"] for f in charts(app)] == ["histogram"]
    assert [m.label for m in app.metric] == ["tower A: mean score", "tower B: mean score"]
    # The split's verdict, with the p-value the analysis computes for this model.
    from analysis.filters import tower_split_test

    split = tower_split_test(load_model("cifar10").model)
    said = [m.value for m in app.markdown if "Permutation test" in m.value]
    assert len(said) == 1 and ("not significant" in said[0]) == (not split.significant)
    assert f"{split.difference:+.2f}" in said[0]


def test_deconvnet_page_projects_the_picture(app):
    app.file_uploader[0].set_value(("photo.png", png_bytes(), "image/png")).run()
    page(app, "app/pages/deconvnet.py")
    assert app.title[0].value == "Deconvnet"
    # A layer opens on the map firing hardest on the picture (torch's own forward to act2),
    # and the next strongest maps are one press away.
    loaded = load_model("cifar10")
    x = loaded.preprocess(load_image(png_bytes()))
    with torch.no_grad():
        acts = loaded.model.forward_until(x, "act2")
    first, second = acts.amax((2, 3))[0].argsort(descending=True)[:2].tolist()
    computed(app.selectbox(key="deconv_layer").set_value("act2").run())
    assert not app.exception
    assert app.number_input(key="deconv_channel_act2").value == first
    titles = [f["layout"]["title"]["text"] for f in charts(app)]
    assert any(t.startswith(f"act2 map {first}: strongest activation") for t in titles)
    assert len(app.image) == 18  # the top 9: patch and projection each
    computed(app.button(key=f"deconv_channel_act2_pick_{second}").click().run())
    assert not app.exception
    assert app.number_input(key="deconv_channel_act2").value == second
    titles = [f["layout"]["title"]["text"] for f in charts(app)]
    assert any(t.startswith(f"act2 map {second}: strongest activation") for t in titles)
    # a map chosen by hand stays chosen
    computed(app.number_input(key="deconv_channel_act2").set_value(3).run())
    assert app.number_input(key="deconv_channel_act2").value == 3 and not app.exception
    # ... also after a look at another layer (Streamlit forgets inputs it did not draw)
    computed(app.selectbox(key="deconv_layer").set_value("act1").run())
    with torch.no_grad():
        acts1 = loaded.model.forward_until(x, "act1")
    assert app.number_input(key="deconv_channel_act1").value == int(acts1.amax((2, 3))[0].argmax())
    computed(app.selectbox(key="deconv_layer").set_value("act2").run())
    assert app.number_input(key="deconv_channel_act2").value == 3 and not app.exception


def test_occlusion_page_draws_three_maps_over_the_picture(app):
    data = png_bytes()
    app.file_uploader[0].set_value(("photo.png", data, "image/png")).run()
    page(app, "app/pages/occlusion.py")
    assert not app.exception and not charts(app)  # pictures, no chart code to wait for
    shown = [m.value for m in app.markdown if m.value.startswith("**(")]
    assert [t[:5] for t in shown] == ["**(a)", "**(b)", "**(d)", "**(e)"]
    assert len(app.image) == 4
    # (e)'s legend names the classes picked somewhere, and the unoccluded pick is among them
    loaded = load_model("cifar10")
    with torch.no_grad():
        picked = loaded.classes[int(loaded.model(loaded.preprocess(load_image(data))).argmax())]
    legend = " ".join(m.value for m in app.markdown)
    named = [c for c in loaded.classes if f">{c}</span>" in legend]
    assert picked in named
    assert f"**(d) p({picked})**" in shown
    app.slider(key="occ_size").set_value(8).run()
    app.slider(key="occ_stride").set_value(8).run()
    assert not app.exception and len(app.image) == 4


# --- the pages added for issue 7: invariance, evolution, neighbours, experiments -----------

def arr(v):
    """A plotly array as JSON: a list, or numpy's {"dtype", "bdata"(, "shape")}."""
    if not isinstance(v, dict):
        return np.asarray(v)
    a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
    return a.reshape([int(n) for n in v["shape"].split(",")]) if "shape" in v else a


def captions(at):
    return [c for i in at.image for c in i.captions]


@pytest.fixture
def pretrained(tmp_path, monkeypatch):
    """An empty stand-in for pretrained/, so shipped files never leak into a test."""
    monkeypatch.setenv("ALEXNET_PRETRAINED_DIR", str(tmp_path / "pretrained"))
    (tmp_path / "pretrained").mkdir()
    return tmp_path / "pretrained"


def test_invariance_page_draws_three_sweeps(app):
    data = png_bytes(seed=4)
    app.file_uploader[0].set_value(("photo.png", data, "image/png")).run()
    page(app, "app/pages/invariance.py")
    assert [s.value for s in app.subheader] == ["Vertical translation", "Scale", "Rotation"]
    assert len(app.get("vega_lite_chart")) == 3 and not charts(app)  # a chart per column
    loaded = load_model("cifar10")
    with torch.no_grad():
        p = loaded.model(loaded.preprocess(load_image(data))).softmax(-1)[0]
    label = loaded.classes[int(p.argmax())]
    spec = json.loads(app.get("vega_lite_chart")[0].proto.spec)  # translation: the first column
    assert [c["title"] for c in spec["vconcat"]] == ["layer 1 distance", "layer 7 distance", f"p({label})"]
    assert spec["vconcat"][2]["encoding"]["x"]["title"] == "pixels moved down"
    l1, l7, prob = vega_tables(app)[:3]
    assert l1["amount"].tolist() == list(range(-8, 9))  # 32 pixels: +-side/4, one pixel at a time
    # no move, no distance (up to batched float sums)
    assert l1["value"][8] == pytest.approx(0, abs=1e-3) and l7["value"][8] == pytest.approx(0, abs=1e-3)
    assert l7["value"].max() > 0
    assert prob["value"][8] == pytest.approx(float(p.max()), abs=1e-5)


def _snapshot(model, path, epoch, scale):
    from alexnet.checkpoint import save_atomic

    feats = {k: (v * scale).half() for k, v in model.state_dict().items() if k.startswith("features.")}
    save_atomic({"epoch": epoch, "model_config": model.config.to_dict(), "features": feats}, path)
    return feats


def test_evolution_page_without_snapshots_says_so(app, pretrained):
    page(app, "app/pages/evolution.py")
    assert any("No training snapshots" in i.value for i in app.info)
    assert not app.image


def test_evolution_page_projects_each_epoch(app, pretrained, env):
    import copy

    from alexnet.data import load_cifar10, normalize

    model = load_model("cifar10").model
    (pretrained / "snapshots").mkdir()
    feats = {e: _snapshot(model, pretrained / "snapshots" / f"epoch{e:03d}.pt", e, s)
             for e, s in ((1, -1.0), (3, 1.0))}
    page(app, "app/pages/evolution.py")
    computed(app.multiselect(key="evo_channels_act5").set_value([2]).run())
    assert not app.exception
    caps = captions(app)
    assert len(caps) == 2 and caps[0].startswith("epoch 1:") and caps[1].startswith("epoch 3:")
    # Independent: the test image with the largest act5 map 2 value under each snapshot.
    test = load_cifar10(env["ALEXNET_DATA_DIR"], train=False)
    for cap, e in zip(caps, (1, 3)):
        net = copy.deepcopy(model)
        net.load_state_dict({k: v.float() for k, v in feats[e].items()}, strict=False)
        with torch.no_grad():
            a = net.forward_until(normalize(test.images), "act5")[:, 2].flatten(1).amax(1)
        assert cap.endswith(f"(test #{int(a.argmax())})")
        assert f"epoch {e}: {float(a.max()):.2f}" in cap


def test_neighbours_page_finds_the_nearest_training_images(app, env):
    from alexnet.data import load_cifar10, normalize

    data = png_bytes(seed=6)
    app.file_uploader[0].set_value(("photo.png", data, "image/png")).run()
    page(app, "app/pages/neighbours.py")
    assert app.radio(key="nb_n").options == ["30"]  # 5,000 and all, capped at the 30 fixture images
    caps = captions(app)
    assert len(caps) == 7 and caps[0].startswith("your picture")  # the query and 6 neighbours
    # Independent: brute-force Euclidean distances between fc7 features (torch.cdist).
    train = load_cifar10(env["ALEXNET_DATA_DIR"], train=True)
    loaded = load_model("cifar10")
    with torch.no_grad():
        ref = loaded.model.forward_until(normalize(train.images, loaded.mean, loaded.std), "act7")
        q = loaded.model.forward_until(loaded.preprocess(load_image(data)), "act7")
    d, i = torch.cdist(q, ref)[0].topk(6, largest=False)
    assert caps[1:] == [f"{train.classes[int(train.labels[j])]}, distance {float(e):.1f} (#{int(j)})"
                        for j, e in zip(i, d)]
    app.slider(key="nb_k").set_value(3).run()
    assert len(captions(app)) == 4


def _reference_docs(folder):
    """Hand-made shipped results: two seeds, round numbers worked out by hand below."""
    from analysis.experiments import Curve, ExperimentConfig, ExperimentResult, summarize
    from analysis.experiments.job import write_json_atomic

    def run(seed, relu, tanh, ratio):
        curves = {"relu": Curve(0.05, [1, 2, 3], [0.5, 0.3, 0.2]),
                  "tanh": Curve(0.02, [1, 2, 3, 4, 5, 6], [0.8, 0.7, 0.6, 0.5, 0.3, 0.25])}
        return ExperimentResult("relu-tanh", {**ExperimentConfig().to_dict(), "seed": seed}, curves,
                                epochs_to_target={"relu": relu, "tanh": tanh}, ratio=ratio)

    def lrn(seed, errors):
        curves = {n: Curve(0.01, [1, 2], [0.6, 0.4], [1, 2], [0.5, e]) for n, e in errors.items()}
        return ExperimentResult("lrn", ExperimentConfig().to_dict(), curves, test_error=errors)

    for name, runs in (("relu_tanh_reference.json", [run(0, 2.5, 5.0, 2.0), run(1, 2.0, 6.0, 3.0)]),
                       ("lrn_ablation_reference.json", [lrn(0, {"no-lrn": 0.2, "lrn": 0.18}),
                                                        lrn(1, {"no-lrn": 0.3, "lrn": 0.18})])):
        write_json_atomic({"experiment": runs[0].experiment, "config": runs[0].config, "seeds": [0, 1],
                           "summary": summarize(runs), "runs": [r.to_dict() for r in runs],
                           "machine": {"cpus": 2}, "wall_seconds": 12.0, "command": "by hand"},
                          folder / name)


def open_tab(app, experiment: str):
    """Choose ``experiment``'s tab on the Experiments page (only the chosen one is drawn)."""
    app.session_state["exp_tab"] = EXPERIMENTS[experiment].label
    return app.run()


def test_experiments_page_shows_shipped_results(app, pretrained):
    page(app, "app/pages/experiments.py")
    assert app.title[0].value == "Experiments"
    for name, experiment in EXPERIMENTS.items():
        open_tab(app, name)
        missing = [i.value for i in app.info if "not on this machine" in i.value]
        assert len(missing) == 1 and experiment.reference_file in missing[0]  # this tab's only
        assert not charts(app)  # no curves without results

    _reference_docs(pretrained)
    open_tab(app, "relu-tanh")
    assert not app.exception
    m = {x.label: x.value for x in app.metric}
    # relu reached 25% at epochs 2.5 and 2.0, tanh at 5 and 6: ratios 2 and 3
    assert m["relu: epochs to 25%"] == "2.25 ± 0.35" and m["tanh: epochs to 25%"] == "5.50 ± 0.71"
    # ratios 2 and 3: mean 2.5, sd 0.707, t_{0.975,1} = 12.706: 2.5 -+ 6.35
    assert m["ratio tanh / ReLU"] == "2.5x [-3.9, 8.9]"
    stale = [c.value for c in app.caption if c.value.startswith("made with other settings")]
    assert [x.split("--experiments ")[1].split()[0] for x in stale] == ["relu-tanh"]
    assert not [c for c in app.caption if c.value.startswith("Every seed picked")]  # one lr each: no grid
    (curves, line) = vega_tables(app)  # the curves, and the 25% line
    assert curves["line"].nunique() == 4  # two nets, two seeds
    tanh0 = curves[curves["line"] == "tanh training 0"]
    assert tanh0["error"].tolist() == [0.8, 0.7, 0.6, 0.5, 0.3, 0.25] and set(tanh0["lr"]) == {0.02}
    assert line["error"].tolist() == [0.25]

    open_tab(app, "lrn")
    m = {x.label: x.value for x in app.metric}
    assert "ratio tanh / ReLU" not in m  # the other tab is not drawn
    assert m["no-lrn: test error"] == "25.0% ± 7.1%" and m["lrn: test error"] == "18.0% ± 0.0%"
    # LRN - no LRN: -2 and -12 points, mean -7, sd 7.07, half-width 12.706 * 7.07 / sqrt(2) = 63.53
    lrn_claim = [c.value for c in app.caption if c.value.startswith("AK 3.3:")]
    assert lrn_claim and "ours over 2 seed(s): -7.00 (95% interval -70.53 to +56.53)" in lrn_claim[0]
    assert lrn_claim[0].endswith("Verdict: **not significant**.")
    # both hand-made references ran ExperimentConfig()'s defaults, not today's full presets
    stale = [c.value for c in app.caption if c.value.startswith("made with other settings")]
    assert [x.split("--experiments ")[1].split()[0] for x in stale] == ["lrn"]
    lrn = vega_tables(app)[0]
    assert lrn["line"].nunique() == 8  # training and test error, two nets, two seeds


def test_experiments_page_when_tanh_never_reached_the_target(app, pretrained):
    """Seed 1's tanh missed 25% in the 30-epoch cap: its ratio is only a lower bound (30/2 = 15)."""
    _reference_docs(pretrained)
    path = pretrained / "relu_tanh_reference.json"
    doc = json.loads(path.read_text())
    run = doc["runs"][1]
    run["epochs_to_target"]["tanh"], run["ratio"], run["ratio_lower_bound"] = None, None, 15.0
    doc["config"]["lrs"] = {"relu": [0.05, 0.1], "tanh": [0.005, 0.02]}  # both seeds: 0.05 and 0.02
    from analysis.experiments import ExperimentResult, summarize
    doc["summary"] = summarize([ExperimentResult.from_dict(r) for r in doc["runs"]])
    path.write_text(json.dumps(doc))
    page(app, "app/pages/experiments.py")
    assert not app.exception
    m = {x.label: x.value for x in app.metric}
    # seed 0: 5 / 2.5 = 2; seed 1: more than 15, so its bound stands in: mean 8.5,
    # sd 13 / sqrt(2), half-width 12.706 * 13 / 2 = 82.6, and only "at least"
    assert m["ratio tanh / ReLU"] == "≥ 8.5x [-74.1, 91.1]"
    assert m["tanh: epochs to 25%"] == "> 30 in some seeds"
    assert m["relu: epochs to 25%"] == "2.25 ± 0.35"
    (edge,) = [c.value for c in app.caption if c.value.startswith("Every seed picked")]
    assert edge.startswith("Every seed picked relu's smallest learning rate (0.05) and tanh's largest "
                           "learning rate (0.02): the fastest one may lie beyond the grid")


def test_experiments_page_lists_every_lr_of_the_shipped_grids(app, pretrained):
    """The shipped relu-tanh reference's table: one row per (net, lr), the picked lr of each
    seed marked with its epochs, read here straight from the JSON."""
    import shutil

    from alexnet.weights import PRETRAINED

    shutil.copy(PRETRAINED / "relu_tanh_reference.json", pretrained)
    doc = json.loads((pretrained / "relu_tanh_reference.json").read_text())
    page(app, "app/pages/experiments.py")
    open_tab(app, "relu-tanh")
    (table,) = [d.value for d in app.dataframe]
    assert len(table) == sum(len(v) for v in doc["config"]["lrs"].values())
    for run in doc["runs"]:
        for net in ("relu", "tanh"):
            lr = run["curves"][net]["lr"]
            cell = table[(table["net"] == net) & (table["lr"] == lr)][f"seed {run['config']['seed']}"].item()
            assert cell == f"{run['epochs_to_target'][net]:.2f} *"


def test_experiments_page_shows_the_saturation_sweep(app, pretrained):
    """relu-tanh-saturation's shipped results, two hand-made seeds: per input scale the
    saturated share, both nets' epochs, the ratio with its interval, and a grid-edge note."""
    from analysis.experiments import Curve, ExperimentConfig, ExperimentResult, summarize
    from analysis.experiments.job import write_json_atomic

    cfg = ExperimentConfig(lrs={"relu": (0.0005, 0.001, 0.004), "tanh": (0.01, 0.02, 0.04)}, input_scales=(0.1, 1.0))

    def run(seed, epochs):  # epochs: {scale: (relu, tanh)}; ReLU picks 0.004 at 0.1, 0.001 at 1
        r = ExperimentResult("relu-tanh-saturation", {**cfg.to_dict(), "seed": seed}, {}, grid={"input_scale": {}})
        for x, (relu, tanh) in epochs.items():
            for net, e, lr in (("relu", relu, 0.004 if x == 0.1 else 0.001), ("tanh", tanh, 0.02)):
                r.curves[f"{net} x{x:g}"] = Curve(lr, [e], [0.25])
                r.epochs_to_target[f"{net} x{x:g}"] = e
            r.grid["input_scale"][str(x)] = {"ratio": tanh / relu, "ratio_lower_bound": None,
                                             "saturated": 0.01 if x == 0.1 else 0.6}
        return r

    runs = [run(0, {0.1: (2.0, 3.0), 1.0: (2.0, 8.0)}), run(1, {0.1: (2.0, 4.0), 1.0: (2.0, 10.0)})]
    write_json_atomic({"experiment": "relu-tanh-saturation", "config": cfg.to_dict(), "seeds": [0, 1],
                       "summary": summarize(runs), "runs": [r.to_dict() for r in runs],
                       "machine": {"cpus": 2}, "wall_seconds": 12.0, "command": "by hand"},
                      pretrained / "relu_tanh_saturation_reference.json")
    page(app, "app/pages/experiments.py")
    open_tab(app, "relu-tanh-saturation")
    assert not app.exception
    (table,) = [d.value for d in app.dataframe]
    # ratios 1.5, 2 (mean 1.75, sd 0.354) and 4, 5 (mean 4.5, sd 0.707); t_{0.975,1} = 12.706
    assert table.to_dict("records") == [
        {"input scale": 0.1, "tanh units saturated": "1.0%", "relu epochs": "2.00", "tanh epochs": "3.50",
         "tanh / ReLU": "1.75 [-1.43, 4.93]"},
        {"input scale": 1.0, "tanh units saturated": "60%", "relu epochs": "2.00", "tanh epochs": "9.00",
         "tanh / ReLU": "4.50 [-1.85, 10.85]"}]
    (edge,) = [c.value for c in app.caption if c.value.startswith("At input scale")]
    assert edge.startswith("At input scale 0.1 every seed picked relu's largest learning rate")
    (fig,) = charts(app)
    band = next(t for t in fig["data"] if t.get("name") == "95% interval")
    assert band["y"] == pytest.approx([4.93, 10.85, -1.85, -1.43], abs=0.01)  # high out, low back
    # the claim: 4 / 1.5 and 5 / 2, the ratio's fall from scale 1 to 0.1
    (claim,) = [c for c in summarize(runs)["claims"]]
    assert claim["mean"] == pytest.approx((4 / 1.5 + 5 / 2) / 2) and claim["n"] == 2


def live_chart(app):
    """The live run's curves: (the chart's Vega-Lite spec, its curves' data)."""
    return [(spec, vega_tables(c)[0]) for c in app.get("vega_lite_chart")
            if "(this run)" in (spec := json.loads(c.proto.spec)).get("title", "")]


def _has_curves(job) -> bool:
    return bool((job.progress().get("partial") or {}).get("curves"))


@pytest.mark.slow
def test_experiments_page_runs_jobs_and_stops_one(app, pretrained, tmp_path, monkeypatch):
    """Two real background jobs at once on the 30 fixture images: one runs to the end, one is stopped."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the session's job folders go here
    page(app, "app/pages/experiments.py")
    open_tab(app, "lrn")
    app.number_input(key="exp_lrn_quick_epochs").set_value(500.0).run()  # long enough to stop
    app.button(key="exp_lrn_start").click().run()
    open_tab(app, "relu-tanh")
    app.button(key="exp_relu-tanh_start").click().run()  # the quick preset as it is
    jobs = app.session_state["exp_job_relu-tanh"], app.session_state["exp_job_lrn"]
    done, stopped = jobs
    try:
        assert all(str(tmp_path) in str(j.dir) for j in jobs)
        assert stopped.running()
        # The curves appear while they train: once both workers have written some, one rerun shows them.
        wait_until(lambda: _has_curves(done) and _has_curves(stopped), what="curves from both jobs")
        for experiment in ("relu-tanh", "lrn"):  # each tab shows its own run's curves
            open_tab(app, experiment)
            assert not app.exception and len(live_chart(app)) == 1
        assert not app.button(key="exp_lrn_stop").proto.disabled
        progress = [p.proto.text for p in app.get("progress")]
        assert any(t.startswith("Running: no-lrn") or t.startswith("Running: lrn") for t in progress), \
            (progress, [e.value for e in app.error])
        app.button(key="exp_lrn_stop").click().run()
        assert not stopped.running() and stopped.progress()["state"] == "stopped"
        # drawn in the stopped state at once, not only after the page is left
        assert not app.button(key="exp_lrn_start").proto.disabled
        assert app.button(key="exp_lrn_stop").proto.disabled
        assert any("Stopped" in w.value for w in app.warning) and stopped.result() is None
        assert done.wait(PROCESS_BOUND), "the quick relu-tanh job still ran"
        open_tab(app, "relu-tanh")
        assert any("Finished" in s.value for s in app.success), [e.value for e in app.error]
    finally:
        for j in jobs:
            j.stop()
    curves = next(data for spec, data in live_chart(app) if "ReLU vs tanh" in spec["title"])
    result = done.result()
    # the quick preset trains every lr of both grids: one line each, the picked one named so
    assert curves["line"].nunique() == sum(len(v) for v in result.config["lrs"].values())
    picked = curves[curves["line"] == f"relu lr {result.curves['relu'].lr:g} (picked)"]
    assert picked["error"].tolist() == result.curves["relu"].train_error
    assert any("relu" in md.value and "epoch" in md.value for md in app.markdown)
