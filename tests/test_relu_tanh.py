"""ReLU vs tanh's fair protocol (AK 3.1): the lr rule, the grid, the ratio's interval,
the input-scale (saturation) experiment, and the resumable reference command."""

import json
import math
from dataclasses import replace

import pytest
import torch

from analysis.experiments import Curve, ExperimentResult, run_relu_tanh
from analysis.experiments.__main__ import main as cli
from analysis.experiments.claims import measure
from analysis.experiments.relu_tanh import CLAIM, Outcome, capped, fastest, final_error, ratio_table, summary
from analysis.experiments.relu_tanh_saturation import ratios, run_input_scales
from analysis.experiments.runs import epochs_to_target
from tests.test_experiments import TINY, data, data_dir, synthetic  # noqa: F401  (fixtures)

FAST = replace(TINY, lr_rule="fastest", stop_at_target=True, target_error=0.5, epochs=3.0,
               lrs={"relu": (0.02, 0.05, 0.1), "tanh": (0.05,)})


def test_fastest_picks_the_fewest_epochs_to_the_target():
    grid = {0.01: Outcome(5.0, 0.20), 0.02: Outcome(3.0, 0.24), 0.04: Outcome(None, 0.10),
            0.08: Outcome(None, math.nan, diverged=True)}
    assert fastest(grid) == 0.02  # 0.04 ends lower but never reached the target
    assert fastest({0.01: Outcome(3.0, 0.2), 0.02: Outcome(3.0, 0.1)}) == 0.01  # a tie: the smaller lr


def test_fastest_falls_back_to_the_lowest_error_at_the_cap():
    grid = {0.01: Outcome(None, 0.40), 0.02: Outcome(None, 0.31), 0.04: Outcome(None, 0.35),
            0.08: Outcome(None, 0.05, diverged=True)}
    assert fastest(grid) == 0.02
    with pytest.raises(FloatingPointError, match="every learning rate"):
        fastest({0.1: Outcome(None, math.nan, diverged=True)})


def test_final_error_averages_the_last_epoch():
    # records at 0.5, 1.0, 1.5, 2.0: the last epoch is (1.0, 2.0] -> 0.3, 0.2 (1.0 itself is the boundary)
    assert final_error([0.5, 1.0, 1.5, 2.0], [0.9, 0.5, 0.3, 0.2]) == pytest.approx((0.5 + 0.3 + 0.2) / 3)
    assert math.isnan(final_error([], []))


def test_the_grid_picks_the_lr_that_reaches_the_target_first(data):
    every = run_relu_tanh(replace(FAST, whole_grid=True), data)
    race = run_relu_tanh(FAST, data)
    # Independently of the rule's code: each lr's own crossing, read off its stored curve.
    own = {float(lr): epochs_to_target(e["curve"]["epochs"], e["curve"]["train_error"], 0.5)
           for lr, e in every.grid["relu"].items()}
    reached = {lr: x for lr, x in own.items() if x is not None}
    assert reached, own  # the synthetic classes are learnable at some lr
    want = min(reached, key=lambda lr: (reached[lr], lr))
    assert every.curves["relu"].lr == race.curves["relu"].lr == want
    assert race.epochs_to_target["relu"] == pytest.approx(reached[want])
    # The race stopped the rest once the winner was there: they trained no further than its record.
    winner_end = race.grid["relu"][str(want)]["epochs"]
    for lr, e in race.grid["relu"].items():
        assert e["epochs"] <= winner_end + 1e-9
        if float(lr) != want:
            assert e["epochs_to_target"] is None or e["epochs_to_target"] >= reached[want]
    assert race.to_dict() == ExperimentResult.from_dict(json.loads(json.dumps(race.to_dict()))).to_dict()


def test_an_interrupted_seed_goes_on_where_it_stopped(data, tmp_path):
    """A full-preset seed outlasts a session: stopped mid-grid and run again with the same
    checkpoint, it ends exactly where one uninterrupted run ends (the reference: that run)."""
    cfg = replace(FAST, lrs={"relu": (0.02, 0.05), "tanh": (0.05, 0.1)}, stop_at_target=False,
                  whole_grid=True, epochs=2.0)

    def counting(limit=None):
        steps = []  # should_stop is asked once before every step
        return steps, lambda: len(steps.append(1) or steps) > (limit or 10**9)

    steps, go_on = counting()
    whole = run_relu_tanh(cfg, data, should_stop=go_on)
    ckpt = tmp_path / "seed0.pt"
    _, stop = counting(limit=len(steps) * 5 // 8)  # inside the tanh grid: ReLU's grid is half the steps
    assert run_relu_tanh(cfg, data, checkpoint=ckpt, should_stop=stop).stopped and ckpt.is_file()
    rest, go_on = counting()
    later = run_relu_tanh(cfg, data, checkpoint=ckpt, should_stop=go_on)
    assert not later.stopped and not ckpt.exists()  # a finished seed leaves nothing behind
    assert len(rest) < len(steps) // 2  # neither the ReLU grid nor the tanh rounds saved were redone
    assert later.grid == whole.grid and later.epochs_to_target == whole.epochs_to_target
    assert {n: c.train_error for n, c in later.curves.items()} == {n: c.train_error for n, c in whole.curves.items()}
    # a checkpoint of other settings is not taken for this run's: seed 1 starts afresh
    _, stop = counting(limit=len(steps) * 5 // 8)
    run_relu_tanh(cfg, data, checkpoint=ckpt, should_stop=stop)
    assert run_relu_tanh(replace(cfg, seed=1), data, checkpoint=ckpt).grid == \
        run_relu_tanh(replace(cfg, seed=1), data).grid


@pytest.mark.parametrize("new", [{"relu": (0.02,), "tanh": (0.02,)}, {"relu": (0.1,), "tanh": (0.1,)}])
def test_growing_a_grid_gives_what_the_whole_grid_gives(data, new):
    """A seed run on a smaller grid, grown by a few lrs, ends as the whole grid run at once
    ends (the reference: that run), training only the new lrs."""
    whole_cfg = replace(FAST, lrs={"relu": (0.02, 0.05, 0.1), "tanh": (0.02, 0.05, 0.1)})
    small_cfg = replace(whole_cfg, lrs={n: tuple(lr for lr in lrs if lr not in new[n])
                                        for n, lrs in whole_cfg.lrs.items()})
    steps, seen = [], []
    whole, small = run_relu_tanh(whole_cfg, data), run_relu_tanh(small_cfg, data)
    grown = run_relu_tanh(whole_cfg, data, grown_from=small, should_stop=lambda: steps.append(1) and False,
                          progress=seen.append)
    assert grown.epochs_to_target == whole.epochs_to_target and grown.ratio == whole.ratio
    assert grown.ratio_lower_bound == whole.ratio_lower_bound
    for name in whole_cfg.lrs:
        assert list(grown.grid[name]) == list(whole.grid[name])  # every lr, in the grid's order
        assert grown.curves[name].lr == whole.curves[name].lr
        assert grown.curves[name].train_error == whole.curves[name].train_error
        for lr in new[name]:  # a new lr trained exactly as far as in the whole grid's race
            assert grown.grid[name][str(lr)] == whole.grid[name][str(lr)]
    # only the new lrs trained: no more steps than they took in the whole grid
    new_steps = sum(round(whole.grid[n][str(lr)]["epochs"] * 8) for n in new for lr in new[n])  # 256 / 32 a epoch
    assert 0 < len(steps) <= new_steps
    # the progress counts only the new lrs, each as far as it may go: the cap, or sooner the
    # smaller grid's fastest epochs to the target; the bar ends at ReLU's part plus tanh's run
    limit = {n: min([whole_cfg.epochs, *(e["epochs_to_target"] for e in small.grid[n].values()
                                          if e["epochs_to_target"] is not None)]) for n in new}
    tanh_ran = grown.grid["tanh"][str(new["tanh"][0])]["epochs"]
    assert seen[-1]["fraction"] == pytest.approx(min(1.0, (limit["relu"] + tanh_ran) / sum(limit.values())))


def test_a_grid_grows_only_from_a_smaller_grid_of_the_same_settings(data):
    small = run_relu_tanh(replace(FAST, lrs={"relu": (0.05,), "tanh": (0.05,)}), data)
    for other in (replace(FAST, lrs={"relu": (0.02,), "tanh": (0.05,)}),  # 0.05 left out
                  replace(FAST, epochs=2.0),  # another cap
                  replace(FAST, seed=1)):  # another seed's weights
        with pytest.raises(ValueError, match="smaller lr grid"):
            run_relu_tanh(other, data, grown_from=small)


@pytest.mark.parametrize("cap", [0.5, 1.5, 2.0])  # none there; tanh only; both
def test_a_longer_run_cut_to_a_cap_is_the_run_with_that_cap(data, cap):
    """``capped`` against the independent reference: the same seed run with that cap."""
    cfg = replace(FAST, lrs={"relu": (0.02, 0.1), "tanh": (0.02, 0.05)}, target_error=0.4)
    short = run_relu_tanh(replace(cfg, epochs=cap), data)
    cut = capped(run_relu_tanh(cfg, data), cap)
    assert cut.config == short.config and cut.grid == short.grid
    assert cut.epochs_to_target == short.epochs_to_target
    assert (cut.ratio, cut.ratio_lower_bound) == (short.ratio, short.ratio_lower_bound)
    assert {n: (c.lr, c.epochs, c.train_error) for n, c in cut.curves.items()} == \
        {n: (c.lr, c.epochs, c.train_error) for n, c in short.curves.items()}
    with pytest.raises(ValueError, match="at most"):
        capped(short, cap * 2)


def test_input_scales_take_relu_tanhs_run_of_a_scale_instead_of_training_it(data):
    from analysis.experiments.relu_tanh_saturation import lends

    cfg = replace(FAST, init="paper-gaussian", inputs="centred-raw", input_scales=(0.1, 1.0),
                  lrs={"relu": (0.01, 0.02), "tanh": (0.01,)}, epochs=1.0, record_every=2)
    own = run_input_scales(cfg, data)
    longer = run_relu_tanh(replace(cfg, input_scale=1.0, input_scales=(), epochs=2.0), data)  # a relu-tanh reference seed
    other_seed = run_relu_tanh(replace(cfg, input_scale=1.0, input_scales=(), epochs=2.0, seed=1), data)
    assert not lends(other_seed, replace(cfg, input_scale=1.0, input_scales=()))
    steps = []
    lent = run_input_scales(cfg, data, borrowed=[other_seed, longer], should_stop=lambda: steps.append(1) and False)
    assert lent.grid["input_scale"]["1.0"].pop("borrowed") and not lent.grid["input_scale"]["0.1"].pop("borrowed")
    for e in own.grid["input_scale"].values():
        e.pop("borrowed")
    assert lent.grid == own.grid and lent.epochs_to_target == own.epochs_to_target
    alone = []
    run_relu_tanh(replace(cfg, input_scale=0.1, input_scales=()), data, should_stop=lambda: alone.append(1) and False)
    assert len(steps) == len(alone)  # only input scale 0.1 trained


def _result(ratio=None, bound=None, relu=2.0):
    return ExperimentResult("relu-tanh", {}, {}, epochs_to_target={"relu": relu, "tanh": None},
                            ratio=ratio, ratio_lower_bound=bound)


def test_ratio_interval_over_seeds():
    # 5, 6, 7: mean 6, sd 1, t_{0.975,2} = 4.303 -> 6 +- 2.484
    m = measure(CLAIM, [_result(5.0), _result(6.0), _result(7.0)])
    assert (m.n, m.censored, m.verdict) == (3, 0, "holds")
    assert (m.low, m.high) == pytest.approx((6 - 4.303 / math.sqrt(3), 6 + 4.303 / math.sqrt(3)), rel=1e-6)
    s = summary([_result(5.0), _result(6.0), _result(7.0)])["ratio_interval"]
    assert s["mean"] == pytest.approx(6.0) and s["verdict"] == "holds"


def test_censored_seeds_count_with_their_bound_and_say_so():
    # tanh missed in two seeds: bounds 4.2 and 4.3 stand in; 4.2, 4.3, 4.25 stay short of 6
    runs = [_result(bound=4.2), _result(bound=4.3), _result(4.25)]
    m = measure(CLAIM, runs)
    assert (m.n, m.censored, m.verdict) == (3, 2, "censored")
    assert m.mean == pytest.approx(4.25)
    # bounds already past the paper's 6: even the lower bounds hold
    assert measure(CLAIM, [_result(bound=8.0), _result(bound=9.0), _result(bound=10.0)]).verdict == "holds"
    assert measure(CLAIM, [_result(), _result(bound=5.0)]).n == 1  # neither ratio nor bound: left out


def test_ratio_table_covers_every_pair():
    r = ExperimentResult("relu-tanh", {}, {}, grid={
        "relu": {"0.001": {"epochs_to_target": 4.0, "epochs": 4.0, "diverged": False},
                 "0.002": {"epochs_to_target": None, "epochs": 30.0, "diverged": False}},
        "tanh": {"0.01": {"epochs_to_target": 12.0, "epochs": 12.0, "diverged": False},
                 "0.02": {"epochs_to_target": None, "epochs": 30.0, "diverged": False}}})
    rows = {(row["relu_lr"], row["tanh_lr"]): (row["ratio"], row["at_least"]) for row in ratio_table(r)}
    assert rows == {(0.001, 0.01): (3.0, False), (0.001, 0.02): (7.5, True),
                    (0.002, 0.01): (None, False), (0.002, 0.02): (None, False)}


def test_grid_edge_flags_a_winner_every_seed_found_at_one_end_of_its_grid():
    from analysis.experiments import Curve
    from analysis.experiments.relu_tanh import grid_edge

    def run(relu_lr, tanh_lr):
        return ExperimentResult("relu-tanh", {}, {"relu": Curve(relu_lr, [1.0], [0.2]),
                                                  "tanh": Curve(tanh_lr, [1.0], [0.2])})

    lrs = {"relu": (0.001, 0.002, 0.004), "tanh": (0.01, 0.02, 0.04)}
    assert grid_edge([run(0.001, 0.04), run(0.001, 0.04)], lrs) == {"relu": "smallest", "tanh": "largest"}
    assert grid_edge([run(0.001, 0.02), run(0.002, 0.04)], lrs) == {}  # inside, or not every seed
    assert grid_edge([run(0.01, 0.01)], {"relu": (0.01,), "tanh": (0.01,)}) == {}  # one lr: no grid


def test_input_scale_experiment_gives_one_ratio_per_scale(data):
    cfg = replace(FAST, init="paper-gaussian", inputs="centred-raw", input_scales=(0.1, 1.0),
                  lrs={"relu": (0.01,), "tanh": (0.01,)}, epochs=1.0)
    seen = []
    r = run_input_scales(cfg, data, progress=seen.append)
    assert set(r.grid["input_scale"]) == {"0.1", "1.0"}
    assert set(r.curves) == {"relu x0.1", "tanh x0.1", "relu x1", "tanh x1"}
    assert all(0 <= p["fraction"] <= 1 for p in seen) and seen[-1]["fraction"] > 0.5
    for x, e in r.grid["input_scale"].items():
        alone = run_relu_tanh(replace(cfg, input_scale=float(x), input_scales=()), data)  # the same run by itself
        assert e["ratio"] == alone.ratio and e["ratio_lower_bound"] == alone.ratio_lower_bound
        assert e["grid"] == alone.grid  # every lr's entry, kept for growing the grid later
    r.grid["input_scale"] = {"0.1": {"ratio": 1.5, "ratio_lower_bound": None},
                              "1.0": {"ratio": None, "ratio_lower_bound": 4.0}}
    assert ratios(r) == {0.1: (1.5, False), 1.0: (4.0, True)}


def test_saturated_share_counts_conv1_units_past_the_threshold(data):
    """Against conv1 by hand: numpy's centred pixels times the scale, torch's conv2d with the
    seed's initial conv1 weights; the paper's inputs saturate most units, a tenth of them few."""
    import numpy as np
    import torch.nn.functional as F

    from analysis.experiments.config import initial_state
    from analysis.experiments.relu_tanh_saturation import SATURATED, saturated_share

    cfg = replace(FAST, init="paper-gaussian", inputs="centred-raw")
    pixels = data.images.numpy().astype(np.float64)
    w = initial_state(cfg)["features.conv1.weight"]
    shares = {}
    for x in (0.1, 1.0):
        centred = torch.from_numpy((pixels[:50] - pixels.mean(axis=0)) * x).float()
        z = F.conv2d(centred, w, padding=2)
        shares[x] = saturated_share(replace(cfg, input_scale=x), data.images, n=50)
        assert shares[x] == pytest.approx(float((z.abs() > SATURATED).float().mean()), abs=1e-3)
    assert shares[0.1] < 0.1 < 0.5 < shares[1.0]


def _scales(**by_scale):
    return ExperimentResult("relu-tanh-saturation", {}, {}, grid={"input_scale": {
        x.replace("_", "."): {"ratio": r, "ratio_lower_bound": b, "saturated": 0.5} for x, (r, b) in by_scale.items()}})


def test_saturation_claim_reads_the_ratio_at_the_largest_scale_over_the_smallest():
    from analysis.experiments.relu_tanh_saturation import CLAIM as SATURATION

    assert SATURATION.effect(_scales(**{"0_1": (1.5, None), "0_3": (2.0, None), "1_0": (3.0, None)})) == 2.0
    bound_at_1 = _scales(**{"0_1": (1.5, None), "1_0": (None, 4.5)})  # tanh missed at the paper's scale
    assert SATURATION.effect(bound_at_1) is None and SATURATION.bound(bound_at_1) == 3.0
    bound_at_01 = _scales(**{"0_1": (None, 2.0), "1_0": (3.0, None)})  # at 0.1 a bound: nothing known
    assert SATURATION.effect(bound_at_01) is None and SATURATION.bound(bound_at_01) is None
    m = measure(SATURATION, [_scales(**{"0_1": (1.0, None), "1_0": (r, None)}) for r in (2.0, 2.5, 3.0)])
    assert (m.n, m.verdict) == (3, "holds") and m.mean == pytest.approx(2.5)
    flat = [_scales(**{"0_1": (1.0, None), "1_0": (r, None)}) for r in (0.9, 1.0, 1.1)]
    assert measure(SATURATION, flat).verdict == "not significant"


def test_configs_saved_before_the_input_scale_sweep_still_read():
    from analysis.experiments.config import ExperimentConfig

    old = {**ExperimentConfig().to_dict(), "init_stds": []}
    del old["input_scales"], old["input_scale"]
    assert ExperimentConfig.from_dict(old) == ExperimentConfig()
    with pytest.raises(ValueError, match="init_stds"):  # the weight-scale sweep's own runs: not these
        ExperimentConfig.from_dict({**old, "init_stds": [0.001, 0.01]})
    with pytest.raises(ValueError, match="input_scale"):
        replace(ExperimentConfig(), input_scale=0.0).validate()


def test_growing_the_input_scale_grids_gives_what_the_whole_grids_give(data):
    """Each scale of a seed run on smaller grids, grown by an lr, ends as the whole grids run
    at once end (the reference: that run), training only the new lr at each scale."""
    whole_cfg = replace(FAST, init="paper-gaussian", inputs="centred-raw", input_scales=(0.1, 1.0),
                        lrs={"relu": (0.01, 0.02), "tanh": (0.01,)}, epochs=1.0, record_every=2)
    small_cfg = replace(whole_cfg, lrs={"relu": (0.01,), "tanh": (0.01,)})
    whole = run_input_scales(whole_cfg, data)
    small = run_input_scales(small_cfg, data)
    steps = []
    grown = run_input_scales(whole_cfg, data, grown_from=small, should_stop=lambda: steps.append(1) and False)
    assert grown.grid == whole.grid and grown.epochs_to_target == whole.epochs_to_target
    new_steps = sum(round(e["grid"]["relu"]["0.02"]["epochs"] * 8) for e in whole.grid["input_scale"].values())
    assert 0 < len(steps) <= new_steps  # steps of relu 0.02 only (256 images / 32 a step)
    with pytest.raises(ValueError, match="smaller lr grids"):
        run_input_scales(replace(whole_cfg, seed=1), data, grown_from=small)
    for e in small.grid["input_scale"].values():
        del e["grid"]  # saved before each scale kept its grid
    with pytest.raises(ValueError, match="cannot be grown"):
        run_input_scales(whole_cfg, data, grown_from=small)


def test_saturation_lr_table_lists_each_scales_grid_and_pick(data):
    """Per input scale, relu-tanh's table of that scale's run by itself (each pick marked): the same rows."""
    from analysis.experiments.relu_tanh import lr_table as relu_tanh_lr_table
    from analysis.experiments.relu_tanh_saturation import lr_table

    cfg = replace(FAST, init="paper-gaussian", inputs="centred-raw", input_scales=(0.1, 1.0),
                  lrs={"relu": (0.01, 0.02), "tanh": (0.01,)}, epochs=1.0, record_every=2)
    rows = lr_table([run_input_scales(cfg, data)])
    assert [(r["input scale"], r["net"], r["lr"]) for r in rows] == [
        (x, net, lr) for x in (0.1, 1.0) for net, lr in (("relu", 0.01), ("relu", 0.02), ("tanh", 0.01))]
    for x in (0.1, 1.0):
        alone = relu_tanh_lr_table([run_relu_tanh(replace(cfg, input_scale=x, input_scales=()), data)])
        assert [{k: v for k, v in r.items() if k != "input scale"} for r in rows if r["input scale"] == x] == alone


def test_an_interrupted_input_scale_seed_goes_on_where_it_stopped(data, tmp_path):
    """relu-tanh-saturation's seed is several relu-tanh seeds long: cut short in its second scale, it
    goes on from there (the first scale not trained again) and ends as one whole run ends."""
    cfg = replace(FAST, init="paper-gaussian", inputs="centred-raw", input_scales=(0.1, 1.0),
                  lrs={"relu": (0.01, 0.02), "tanh": (0.01,)}, epochs=1.0, stop_at_target=False)
    steps = []
    whole = run_input_scales(cfg, data, should_stop=lambda: steps.append(1) and False)
    ckpt = tmp_path / "seed0.pt"
    taken = []
    cut = run_input_scales(cfg, data, checkpoint=ckpt, should_stop=lambda: len(taken.append(1) or taken) > len(steps) * 3 // 4)
    assert cut.stopped and ckpt.is_file() and (tmp_path / "seed0-x1.pt").is_file()
    rest = []
    later = run_input_scales(cfg, data, checkpoint=ckpt, should_stop=lambda: rest.append(1) and False)
    assert not later.stopped and not list(tmp_path.iterdir())  # a finished seed leaves nothing behind
    assert len(rest) < len(steps) // 2  # less than one scale: neither was started over
    assert later.grid == whole.grid and later.epochs_to_target == whole.epochs_to_target


def test_reference_resumes_per_seed(tmp_path, data_dir, isolated_cache, capsys):  # noqa: F811
    out = tmp_path / "ref.json"
    args = ["relu-tanh", "--preset", "quick", "--data-dir", str(data_dir), "--epochs", "0.5",
            "--subset", "100", "--lr", "relu=0.05", "--lr", "tanh=0.05", "--out", str(out)]
    cli(args + ["--seeds", "0"])
    first = json.loads(out.read_text())
    assert first["seeds"] == [0]
    capsys.readouterr()
    cli(args + ["--seeds", "0", "1"])  # seed 0 is kept, only seed 1 runs
    said = capsys.readouterr().out
    assert "seed(s) 0 already in" in said and "running 1" in said
    doc = json.loads(out.read_text())
    assert doc["seeds"] == [0, 1] and doc["runs"][0] == first["runs"][0]
    assert "AK 3.1" in said
    cli(args + ["--seeds", "0,1", "--epochs", "0.25"])  # another config: starts afresh
    assert "already in" not in capsys.readouterr().out


def test_reference_grows_a_grid_seed_by_seed(tmp_path, data_dir, isolated_cache, capsys):  # noqa: F811
    """Adding lrs to a reference's grid trains only the new lrs of each seed; a seed not yet
    grown stays in the file with its smaller grid until its turn, and the file says so."""
    out = tmp_path / "ref.json"
    args = ["relu-tanh", "--preset", "quick", "--data-dir", str(data_dir), "--epochs", "0.5",
            "--subset", "100", "--lr", "tanh=0.05", "--out", str(out)]
    cli(args + ["--lr", "relu=0.05", "--seeds", "0,1"])
    small = json.loads(out.read_text())
    capsys.readouterr()
    cli(args + ["--lr", "relu=0.02,0.05", "--seeds", "0"])  # grow seed 0 only
    assert "growing the lr grid of seed(s) 0 " in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["seeds"] == [0, 1] and doc["runs"][1] == small["runs"][1]  # seed 1 waits, as it was
    grown = doc["runs"][0]
    assert list(grown["grid"]["relu"]) == ["0.02", "0.05"]
    assert grown["grid"]["relu"]["0.05"] == small["runs"][0]["grid"]["relu"]["0.05"]  # taken, not retrained
    assert grown["grid"]["tanh"] == small["runs"][0]["grid"]["tanh"]
    assert [s["seeds"] for s in doc["sessions"]] == [[0, 1], [0]]
    cli(args + ["--lr", "relu=0.02,0.05", "--seeds", "0,1"])
    said = capsys.readouterr().out
    assert "seed(s) 0 already in" in said and "growing the lr grid of seed(s) 1 " in said
    doc = json.loads(out.read_text())
    assert [list(r["grid"]["relu"]) for r in doc["runs"]] == [["0.02", "0.05"]] * 2
    assert doc["runs"][0] == grown


def test_reference_grows_a_saturation_seed(tmp_path, data_dir, isolated_cache, capsys):  # noqa: F811
    """`--lr` with one more lr grows relu-tanh-saturation's seed in the file, scale by scale."""
    out = tmp_path / "ref.json"
    args = ["relu-tanh-saturation", "--preset", "quick", "--data-dir", str(data_dir), "--epochs", "0.5",
            "--subset", "100", "--lr", "tanh=0.05", "--out", str(out), "--seeds", "0"]
    cli(args + ["--lr", "relu=0.05"])
    small = json.loads(out.read_text())["runs"][0]["grid"]["input_scale"]
    capsys.readouterr()
    cli(args + ["--lr", "relu=0.02,0.05"])
    assert "growing the lr grid of seed(s) 0 " in capsys.readouterr().out
    grown = json.loads(out.read_text())["runs"][0]["grid"]["input_scale"]
    assert set(grown) == set(small) == {"0.1", "0.3", "1.0"}
    for x, e in grown.items():
        assert list(e["grid"]["relu"]) == ["0.02", "0.05"]
        assert e["grid"]["relu"]["0.05"] == small[x]["grid"]["relu"]["0.05"]  # taken, not retrained


def test_saturation_reference_borrows_the_relu_tanh_reference_beside_it(tmp_path, data_dir, isolated_cache,  # noqa: F811
                                                                  monkeypatch):
    """`reference --experiments relu-tanh-saturation` takes, for the paper's scale, the run of the
    same seed in relu_tanh_reference.json beside it (the full presets agree but for the cap)."""
    from analysis.experiments.registry import EXPERIMENTS

    tiny = replace(FAST, init="paper-gaussian", inputs="centred-raw", lrs={"relu": (0.01, 0.02), "tanh": (0.01,)},
                   epochs=1.0)
    monkeypatch.setitem(EXPERIMENTS["relu-tanh"].presets, "full", replace(tiny, epochs=2.0))
    monkeypatch.setitem(EXPERIMENTS["relu-tanh-saturation"].presets, "full", replace(tiny, input_scales=(0.1, 1.0)))
    common = ["reference", "--out-dir", str(tmp_path), "--data-dir", str(data_dir), "--seeds", "0"]
    cli([*common, "--experiments", "relu-tanh"])
    cli([*common, "--experiments", "relu-tanh-saturation"])
    scales = json.loads((tmp_path / "relu_tanh_saturation_reference.json").read_text())["runs"][0]["grid"]["input_scale"]
    assert scales["1.0"]["borrowed"] and not scales["0.1"]["borrowed"]


def test_lr_table_shows_each_lr_per_seed_and_the_pick():
    def run(seed, picked, grid):
        return ExperimentResult("relu-tanh", {"seed": seed}, {"relu": Curve(picked, [], [])}, grid={"relu": grid})

    e = {"diverged": False}
    runs = [run(0, 0.001, {"0.001": {**e, "epochs_to_target": 5.06, "epochs": 5.1},
                           "0.002": {**e, "epochs_to_target": None, "epochs": 5.1}}),
            run(1, 0.002, {"0.001": {**e, "epochs_to_target": None, "epochs": 4.0},
                           "0.002": {**e, "epochs_to_target": 3.96, "epochs": 4.0},
                           "0.004": {"diverged": True, "epochs_to_target": None, "epochs": 0.3}})]
    from analysis.experiments.relu_tanh import lr_table

    assert lr_table(runs) == [
        {"net": "relu", "lr": 0.001, "seed 0": "5.06 *", "seed 1": "> 4.0"},
        {"net": "relu", "lr": 0.002, "seed 0": "> 5.1", "seed 1": "3.96 *"},
        {"net": "relu", "lr": 0.004, "seed 0": "", "seed 1": "diverged"}]


def test_the_cli_takes_input_scales_and_refuses_bad_ones(tmp_path, data_dir, isolated_cache):  # noqa: F811
    out = tmp_path / "sat.json"
    cli(["relu-tanh-saturation", "--data-dir", str(data_dir), "--epochs", "0.25", "--subset", "64",
         "--input-scales", "0.5,1", "--lr", "relu=0.05", "--lr", "tanh=0.05", "--out", str(out)])
    doc = json.loads(out.read_text())
    assert doc["config"]["input_scales"] == [0.5, 1.0] and set(doc["runs"][0]["grid"]["input_scale"]) == {"0.5", "1.0"}
    with pytest.raises(SystemExit, match="--input-scales wants numbers"):
        cli(["relu-tanh-saturation", "--data-dir", str(data_dir), "--input-scales", "0.1,big"])
    with pytest.raises(SystemExit, match="input_scales must all be > 0"):
        cli(["relu-tanh-saturation", "--data-dir", str(data_dir), "--input-scales", "0,1"])
    with pytest.raises(SystemExit, match="input_scale must be > 0"):
        cli(["relu-tanh", "--data-dir", str(data_dir), "--input-scale", "-1"])
