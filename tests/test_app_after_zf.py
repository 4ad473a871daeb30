"""The Feature maps, Attribution and Feature visualisation pages through AppTest,
checked against the model computed here independently of the app."""

import torch

from alexnet.images import load_image
from alexnet.weights import load_model
from analysis.featvis import Settings

from tests.app_fixtures import computed, png_bytes
from tests.test_app import app, arr, captions, charts, env, page  # noqa: F401  (fixtures)


def _upload(app, seed=7):
    data = png_bytes(seed=seed)
    app.file_uploader[0].set_value(("photo.png", data, "image/png")).run()
    return data


def test_feature_maps_page_ranks_every_map_per_tower(app):
    data = _upload(app)
    page(app, "app/pages/feature_maps.py")
    assert app.title[0].value == "Feature maps"
    computed(app.selectbox(key="fm_layer").set_value("act2").run())  # the top 9 may be computing
    loaded = load_model("cifar10")
    with torch.no_grad():
        a = loaded.model.forward_until(loaded.preprocess(load_image(data)), "act2")[0]  # (C, 16, 16)
    peak = a.flatten(1).amax(1)
    half = len(peak) // 2  # each tower's maps
    grids = [f for f in charts(app) if f["data"][0]["type"] == "heatmap"]
    assert [g["layout"]["title"]["text"] for g in grids] == [f"act2, tower A: maps 0 to {half - 1}",
                                                            f"act2, tower B: maps {half} to {2 * half - 1}"]
    for g, lo in zip(grids, (0, half)):
        ids = arr(g["data"][0]["customdata"])
        first_tile = ids[:16, :16]  # the strongest map of the tower comes first
        assert (first_tile == lo + int(peak[lo:lo + half].argmax())).all()
        assert sorted(set(ids.flatten().tolist()) - {-1}) == list(range(lo, lo + half))
    strongest = int(peak.argmax())
    assert app.selectbox(key="fm_map_act2").value == strongest
    titles = [f["layout"]["title"]["text"] for f in charts(app)]
    assert any(t.startswith(f"act2 map {strongest}: strongest activation {float(peak.max()):.2f}")
               for t in titles)
    assert len(app.image) == 18  # the top 9 of that map: patch and projection each


def test_attribution_page_five_methods_for_the_top_class(app):
    data = _upload(app, seed=8)
    page(app, "app/pages/attribution.py")
    assert app.title[0].value == "Attribution"
    loaded = load_model("cifar10")
    x = loaded.preprocess(load_image(data)).requires_grad_(True)
    logits = loaded.model(x)[0]
    top = int(logits.argmax())
    assert app.selectbox(key="attr_class").value == top
    assert len(app.image) == 6 and not charts(app)  # the input and five methods, as pictures
    assert any(f"Target: {loaded.classes[top]}" in m.value for m in app.markdown)
    # saliency, independently: |d logit / d x|, largest over colours
    (g,) = torch.autograd.grad(logits[top], x)
    heat = [c for c in captions(app) if c.startswith("largest ")]
    assert len(heat) == 3  # saliency, Grad-CAM, integrated gradients
    want = g[0].abs().amax(0)  # (32, 32)
    row, column = divmod(int(want.argmax()), want.shape[1])
    assert heat[0] == f"largest {float(want.max()):.3g} at row {row}, column {column}"
    text = " ".join(c.value for c in app.caption)
    assert "whatever the forward input was" in text and "both rules at once" in text

    app.radio(key="attr_kind").set_value("a unit").run()
    app.selectbox(key="attr_layer").set_value("act1").run()
    assert not app.exception
    assert any("Grad-CAM needs a rectified conv layer below act1" in i.value for i in app.info)
    assert len(app.image) == 5  # Grad-CAM says why instead


def test_featvis_page_optimises_and_caches(app):
    page(app, "app/pages/featvis.py")
    assert app.title[0].value == "Feature visualisation"
    assert any("Press **Visualise**" in i.value for i in app.info)
    app.selectbox(key="fv_layer").set_value("act3").run()
    app.slider(key="fv_steps").set_value(16).run()
    app.number_input(key="fv_unit_act3").set_value(5).run()
    app.button(key="fv_go").click().run()
    assert not app.exception
    (cap,) = captions(app)
    assert cap.startswith("act3 unit 5: ")
    assert not any("Read from the disk cache" in c.value for c in app.caption)
    # independently: the shown activation is what the model computes for the picture shown
    loaded = load_model("cifar10")
    shown = app.session_state.fv_result[1].images
    with torch.no_grad():
        m, s = torch.tensor(loaded.mean).view(1, 3, 1, 1), torch.tensor(loaded.std).view(1, 3, 1, 1)
        a = loaded.model.forward_until((shown - m) / s, "act3")[0, 5, 4, 4]  # the centre of 8x8
    assert cap == f"act3 unit 5: {float(a):.2f}"
    assert app.session_state.fv_result[0][3] == Settings(steps=16)
    app.button(key="fv_go").click().run()
    assert any("Read from the disk cache" in c.value for c in app.caption)

    app.radio(key="fv_many").set_value("a grid of units").run()
    app.select_slider(key="fv_count").set_value(4).run()
    app.button(key="fv_go").click().run()
    assert not app.exception
    assert [c.split(":")[0] for c in captions(app)] == [f"act3 unit {i}" for i in range(4)]
