"""The ZF pages (Filter quality, Correspondence, Layer features, Transfer) and the Architecture
page's side-by-side view, through streamlit.testing.v1.AppTest, against the analyses called directly."""

from pathlib import Path

import pytest
import torch
from PIL import Image

from alexnet.data import load_cifar10
from alexnet.weights import load_model
from analysis._layers import Box
from analysis.correspondence import correspondence
from analysis.filter_quality import filter_quality

# The app and its environment, as the other AppTest files get them.
from tests.app_fixtures import computed, plotly_charts, vega_tables
from tests.test_app import app, env, page  # noqa: E402, F401


def test_architecture_side_by_side(app):
    page(app, "app/pages/architecture.py")
    left, right = (d.value.set_index("layer") for d in app.dataframe[1:3])
    assert left.loc["conv1", "output"] == "96 x 55 x 55" and left.loc["pool5", "receptive field"] == 195
    assert right.loc["conv1", "output"] == "96 x 110 x 110" and right.loc["conv1", "parameters"] == 14_208
    assert right.loc["pool5", "receptive field"] == 171
    assert "62,357,608 parameters" in " ".join(c.value for c in app.caption)


def test_filter_quality_page_matches_the_analysis(app):
    page(app, "app/pages/filter_quality.py")
    df = app.dataframe[0].value
    row = df[(df["weights"] == "cifar10") & (df["layer"] == "conv1")].iloc[0]
    q = filter_quality(load_model("cifar10").model)
    assert row["high-frequency share"] == pytest.approx(q.high_fraction)
    assert row["dead"] == q.dead_fraction and row["stride"] == 1
    assert "untrained:alexnet_cifar" in set(df["weights"])
    # the histogram: each kernel's mean frequency in bins of 0.025 from 0 to 0.5, as shares
    (bars,) = vega_tables(app)
    ours = bars[bars["color -- streamlit-generated"] == "cifar10"]["value -- streamlit-generated"]
    counts = torch.histc(q.mean_frequency.float(), bins=20, min=0, max=0.5)
    assert ours.tolist() == pytest.approx((counts / len(q.mean_frequency)).tolist())


def test_correspondence_page_matches_the_analysis(app, env):
    page(app, "app/pages/correspondence.py")
    app.selectbox(key="corr_class").set_value("cat").run()
    app.slider(key="corr_count").set_value(3).run()
    app.slider(key="corr_size").set_value(6).run()
    assert not app.exception
    cell = app.dataframe[0].value.set_index("mask").loc["your part"].iloc[0]
    m = load_model("cifar10")
    test = load_cifar10(env["ALEXNET_DATA_DIR"], train=False)
    idx = (test.labels == test.classes.index("cat")).nonzero().flatten()[:3].tolist()
    assert [c for i in app.image for c in i.captions] == [f"cat #{i}" for i in idx]  # the masked pictures
    x = torch.cat([m.preprocess(Image.fromarray(test.images[i].permute(1, 2, 0).numpy())) for i in idx])
    box = Box(13, 13, 19, 19)  # the sliders' default: centred
    want = correspondence(m.model, x, [box] * 3)[m.model.roles.last_conv]
    assert cell == f"{want.delta:.3f} ± {want.spread:.3f}"


def test_layer_features_page_runs_on_request(app):
    page(app, "app/pages/layer_features.py")
    assert any("Press **Run**" in i.value for i in app.info)
    app.slider(key="lf_splits").set_value(2).run()
    app.button(key="lf_run").click().run()
    computed(app)  # the table is page data: computed in the background, kept on disk
    points = vega_tables(app)[0]  # the layered chart's first layer: every series' points
    ours = points[points["series"].str.startswith("cifar10, CIFAR-10")]
    assert ours["layer"].tolist() == ["act1", "act2", "act3", "act4", "act5", "act6", "act7"]
    table = app.table[0].value.set_index("layer")["accuracy (%)"]  # "mean ± spread", as the chart's
    assert [f"{m:.1f} ± {(h - m):.1f}" for m, h in zip(ours["accuracy"], ours["high"])] == table.tolist()
    zf = points[points["series"] == "ZF Table 7: Caltech-101 (30/class)"]
    assert zf.set_index("layer")["accuracy"].to_dict() == {"act1": 44.8, "act2": 66.2, "act3": 72.3,
                                                           "act4": 76.6, "act5": 86.2, "act7": 85.5}
    app.slider(key="lf_splits").set_value(3).run()
    app.slider(key="lf_splits").set_value(2).run()  # back to a table computed already: no Run needed
    assert not app.info and vega_tables(app) and not plotly_charts(app)


def test_transfer_page(app, env, tmp_path):
    page(app, "app/pages/transfer.py")
    app.text_input(key="tr_folder").set_value(str(tmp_path / "missing")).run()
    assert any("is not a folder" in e.value for e in app.error)
    app.text_input(key="tr_folder").set_value(str(Path(env["ALEXNET_DATA_DIR"]) / "test")).run()
    app.slider(key="tr_splits").set_value(1).run()
    app.button(key="tr_run").click().run()
    assert not app.exception
    assert [m.label for m in app.metric] == ["test accuracy", "spread over splits", "chance"]
    assert app.metric[2].value == "10.0%"
