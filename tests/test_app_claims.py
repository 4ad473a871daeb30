"""The Paper claims page through AppTest, over hand-made reference folders: rows, verdicts
worked out by hand, the missing-reference message, and the rerun button's background job."""

import json
import math
import tempfile
from dataclasses import replace

import pytest

from analysis.experiments import EXPERIMENTS, ExperimentConfig, ExperimentResult, preset, summarize
from analysis.experiments.claims import Claim
from analysis.experiments.job import write_json_atomic
from analysis.experiments.relu_tanh import CLAIM
from tests.test_app import app, charts, env, live_chart, page, pretrained  # noqa: F401  (fixtures)
from tests.waiting import wait_until

PAGE = "app/pages/claims.py"
T2 = 4.303  # t_{0.975, 2}: three seeds


def relu_tanh_doc(folder, ratios=(), bounds=()):
    runs = [ExperimentResult("relu-tanh", {**ExperimentConfig().to_dict(), "seed": i}, {},
                             epochs_to_target={"relu": 2.0, "tanh": None if b else 2.0 * r},
                             ratio=r, ratio_lower_bound=b)
            for i, (r, b) in enumerate(zip(ratios, bounds))]
    write_json_atomic({"experiment": "relu-tanh", "config": runs[0].config, "seeds": list(range(len(runs))),
                       "summary": summarize(runs), "runs": [r.to_dict() for r in runs], "machine": {"cpus": 2},
                       "wall_seconds": 1.0, "command": "by hand"}, folder / "relu_tanh_reference.json")


def lrn_doc(folder, pairs):
    runs = [ExperimentResult("lrn", ExperimentConfig().to_dict(), {}, test_error={"no-lrn": a, "lrn": b})
            for a, b in pairs]
    write_json_atomic({"experiment": "lrn", "config": runs[0].config, "seeds": list(range(len(runs))),
                       "summary": summarize(runs), "runs": [r.to_dict() for r in runs], "machine": {"cpus": 2},
                       "wall_seconds": 1.0, "command": "by hand"}, folder / "lrn_ablation_reference.json")


LRN_CLAIM = Claim("lrn", "AK 3.3", "LRN lowers a four-layer net's CIFAR-10 test error from 13% to 11%", -2.0,
                  "points of test error (with - without)",
                  effect=lambda r: 100 * (r.test_error["lrn"] - r.test_error["no-lrn"]))


@pytest.fixture
def lrn_claim(monkeypatch):
    """The LRN experiment with one claim (whatever it registers itself), and no other
    experiment with claims but relu-tanh, for these tests only."""
    monkeypatch.setitem(EXPERIMENTS, "lrn", replace(EXPERIMENTS["lrn"], claims=(LRN_CLAIM,)))
    for name in [n for n, e in EXPERIMENTS.items() if e.claims and n not in ("relu-tanh", "lrn")]:
        monkeypatch.delitem(EXPERIMENTS, name)


def rows(at):
    """(source, verdict badge, ours) per row, read off the page's bordered containers."""
    out = []
    for md in at.markdown:
        if md.value.startswith(":") and "-badge[" in md.value:
            out.append(md.value.split("[", 1)[1].rstrip("]"))
    return out


def test_without_references_each_row_says_how_to_make_one(app, pretrained, lrn_claim):
    page(app, PAGE)
    assert app.title[0].value == "Paper claims"
    texts = [m.value for m in app.markdown]
    assert texts.count("*no reference yet*") == 2  # relu-tanh's claim and LRN's
    commands = [c.value for c in app.code]
    assert "python -m analysis.experiments reference --experiments relu-tanh --seeds 0 1 2 --data-dir DIR" in commands
    assert rows(app) == ["no reference", "no reference"]
    assert not charts(app)
    legend = " ".join(c.value for c in app.caption)
    for v in ("holds", "weaker", "opposite", "not significant", "censored"):
        assert f"-badge[{v}]" in legend


def test_rows_and_verdicts_from_the_references(app, pretrained, lrn_claim):
    relu_tanh_doc(pretrained, ratios=(5.0, 6.0, 7.0), bounds=(None, None, None))
    # LRN effects -1.0, -1.2, -0.8 points: mean -1, sd 0.2, half-width 4.303 * 0.2 / sqrt(3) = 0.497
    lrn_doc(pretrained, [(0.20, 0.19), (0.21, 0.198), (0.19, 0.182)])
    page(app, PAGE)
    assert rows(app) == ["holds", "weaker"]
    half = T2 / math.sqrt(3)
    said = [m.value for m in app.markdown]
    assert f"{6:.2f} [{6 - half:.2f}, {6 + half:.2f}] (3 seeds)" in said
    h = T2 * 0.2 / math.sqrt(3)
    assert f"{-1:.2f} [{-1 - h:.2f}, {-1 + h:.2f}] (3 seeds)" in said
    (forest,) = charts(app)
    xs = {t["y"][0].split(":")[0]: (t["x"][0], t["marker"]["color"]) for t in forest["data"]}
    # on the common scale: (6 - 1) / (6 - 1) = 1 for the ratio, -1 / -2 = 0.5 for LRN
    assert xs["AK 3.1"][0] == pytest.approx(1.0) and xs["AK 3.3"][0] == pytest.approx(0.5)


def test_every_registered_claim_has_a_row_and_a_claim_without_a_size_names_its_side(app, pretrained):
    """The ablations' claims are rows too. AK 3.4's "slightly more difficult to overfit" has no
    number: the paper column says which side of no effect, and three seeds whose gaps are
    2, 2.5 and 1.5 points smaller (interval -3.24 to -0.76) make it hold."""
    runs = [ExperimentResult("pooling", {**preset("pooling", "full").to_dict(), "seed": i}, {},
                             test_error={"overlapping": 0.30, "non-overlapping": 0.30},
                             train_error={"overlapping": t, "non-overlapping": 0.20})
            for i, t in enumerate((0.22, 0.225, 0.215))]
    write_json_atomic({"experiment": "pooling", "config": runs[0].config, "seeds": [0, 1, 2],
                       "summary": summarize(runs), "runs": [r.to_dict() for r in runs], "machine": {"cpus": 2},
                       "wall_seconds": 1.0, "command": "by hand"}, pretrained / "pooling_reference.json")
    page(app, PAGE)
    assert not app.exception
    claims = [c for e in EXPERIMENTS.values() for c in e.claims]
    assert len(rows(app)) == len(claims) and len(claims) >= 11
    # pooling's rows: the test error (no change: 0 is inside, "not significant") and the gap
    assert rows(app).count("not significant") == 1 and rows(app).count("holds") == 1
    said = [m.value for m in app.markdown]
    assert any(m.startswith("below 0") for m in said)
    assert f"{-2:.2f} [{-2 - T2 * 0.5 / math.sqrt(3):.2f}, {-2 + T2 * 0.5 / math.sqrt(3):.2f}] (3 seeds)" in said


def test_censored_seeds_read_as_at_least(app, pretrained):
    relu_tanh_doc(pretrained, ratios=(None, None, 4.25), bounds=(4.2, 4.3, None))
    page(app, PAGE)
    assert rows(app)[0] == "censored"
    assert any(m.value.startswith("≥ 4.25 [") and "2 only a bound" in m.value for m in app.markdown)
    forest = charts(app)[0]
    assert forest["data"][0]["marker"]["symbol"] == "triangle-right"
    assert CLAIM.paper == 6.0  # the scale the chart's 1 stands for


def test_rerun_button_starts_the_quick_preset_in_the_background(app, pretrained, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the session's job folders go here
    page(app, PAGE)
    i = next(i for i, b in enumerate(app.button) if b.key and b.key.endswith("_rerun"))
    app.button[i].click().run()
    assert not app.exception, app.exception
    job = app.session_state["exp_job_relu-tanh"]
    try:
        spec = json.loads((job.dir / "job.json").read_text())
        assert spec["experiment"] == "relu-tanh" and spec["config"] == preset("relu-tanh", "quick").to_dict()
        assert str(tmp_path) in str(job.dir)
        assert any(e.label.startswith("Live run: ReLU vs tanh") for e in app.expander)
        assert app.button(key="claim_relu-tanh_stop") is not None
    finally:
        job.stop()
    assert not job.running()
    app.run()
    assert not app.exception


@pytest.mark.slow
def test_rerun_grows_every_lr_of_the_grid(app, pretrained, tmp_path, monkeypatch):
    """The live chart shows every lr of both grids as they train (the 30 fixture images)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    page(app, PAGE)
    app.button(key="claim_0_rerun").click().run()
    job = app.session_state["exp_job_relu-tanh"]
    try:
        n = len(preset("relu-tanh", "quick").lrs["tanh"])
        wait_until(lambda: len((job.progress().get("partial") or {}).get("grid", {}).get("tanh", {})) == n,
                   what="every lr of both grids in the progress file")
        app.run()
        live = live_chart(app)
        lrs = preset("relu-tanh", "quick").lrs
        assert len(live) == 1 and live[0][1]["line"].nunique() == len(lrs["relu"]) + len(lrs["tanh"])
    finally:
        job.stop()


def test_a_reference_made_with_other_settings_says_so(app, pretrained, lrn_claim):
    """relu-tanh's rows come from ExperimentConfig()'s defaults (not today's full preset: its lr
    rule, grid and cap differ), LRN's from its full preset: only relu-tanh's row asks for a rerun."""
    relu_tanh_doc(pretrained, ratios=(5.0, 6.0, 7.0), bounds=(None, None, None))
    runs = [ExperimentResult("lrn", {**preset("lrn", "full").to_dict(), "seed": i}, {},
                             test_error={"no-lrn": 0.2, "lrn": e}) for i, e in enumerate((0.19, 0.18, 0.185))]
    write_json_atomic({"experiment": "lrn", "config": runs[0].config, "seeds": [0, 1, 2],
                       "summary": summarize(runs), "runs": [r.to_dict() for r in runs], "machine": {"cpus": 2},
                       "wall_seconds": 1.0, "command": "by hand"}, pretrained / "lrn_ablation_reference.json")
    page(app, PAGE)
    stale = [c.value for c in app.caption if c.value.startswith("made with other settings")]
    assert stale == ["made with other settings than today's full preset: rerun it to measure today's protocol: "
                     "`python -m analysis.experiments reference --experiments relu-tanh --seeds 0 1 2 --data-dir DIR`"]
