"""Claims' intervals and verdicts, against hand-worked numbers."""

import math

import pytest

from analysis.experiments.claims import Claim, interval, measure, verdict


def test_interval_matches_hand_worked_t_interval():
    # values 1, 2, 3: mean 2, sample sd 1, t_{0.975, 2} = 4.303, half-width 4.303 / sqrt(3)
    mean, low, high = interval([1.0, 2.0, 3.0])
    assert mean == pytest.approx(2.0)
    assert high - mean == pytest.approx(4.303 / math.sqrt(3), rel=1e-6)
    assert mean - low == pytest.approx(4.303 / math.sqrt(3), rel=1e-6)


def test_interval_needs_two_values():
    with pytest.raises(ValueError, match="at least two"):
        interval([1.0])


@pytest.mark.parametrize("paper, low, high, want", [
    (-2.0, -3.0, -1.0, "holds"),        # LRN lowers error by 2 points; we see 1-3
    (-2.0, -1.5, -0.5, "weaker"),       # lower, but by less than the paper says
    (-2.0, 0.5, 1.5, "opposite"),       # raises it
    (-2.0, -1.0, 0.5, "not significant"),
    (6.0, 4.0, 9.0, "holds"),           # a ratio, null 1 below
    (6.0, 1.2, 2.0, "weaker"),
    (6.0, 0.5, 0.9, "opposite"),
])
def test_verdicts(paper, low, high, want):
    null = 1.0 if paper > 1 else 0.0
    assert verdict(paper, null, low, high) == want


def test_measure_skips_unmeasured_runs_and_needs_two_seeds():
    claim = Claim("lrn", "AK 3.3", "LRN lowers test error", -2.0, "points", effect=lambda r: r)
    one = measure(claim, [None, -1.0, None])
    assert (one.n, one.verdict, one.low) == (1, "not significant", None)
    two = measure(claim, [-2.0, None, -3.0])
    assert two.n == 2 and two.mean == pytest.approx(-2.5)
    # two seeds: t_{0.975, 1} = 12.706, half-width 12.706 * 0.707 / sqrt(2) = 6.35, so 0 is inside
    assert two.verdict == "not significant"
    three = measure(claim, [-2.0, -2.2, -1.8])  # half-width 4.303 * 0.2 / sqrt(3) = 0.50
    assert three.verdict == "holds" and three.high == pytest.approx(-1.503, abs=1e-3)


def test_a_reference_part_way_through_growing_its_grid_is_not_todays_protocol():
    """A file whose config is today's full preset but which still holds a seed run on the
    smaller grid (its turn to grow not yet come) is stale: every run must be today's."""
    from analysis.experiments import ExperimentResult, preset
    from analysis.experiments.reference import made_with_full_preset

    full = preset("relu-tanh", "full").to_dict()
    smaller = {**full, "lrs": {n: lrs[1:] for n, lrs in full["lrs"].items()}}
    runs = [ExperimentResult("relu-tanh", {**full, "seed": 0}, {}),
            ExperimentResult("relu-tanh", {**smaller, "seed": 1}, {})]
    assert made_with_full_preset("relu-tanh", {"config": full, "runs": runs[:1]})
    assert not made_with_full_preset("relu-tanh", {"config": full, "runs": runs})


def test_every_shipped_reference_is_todays_full_preset():
    """A preset changed without its reference remade (or grown) would show the class
    figures of another protocol: every file in pretrained/ must match today's preset."""
    from analysis.experiments.reference import load_reference, made_with_full_preset
    from analysis.experiments.registry import EXPERIMENTS
    from alexnet.weights import PRETRAINED

    shipped = [n for n, e in EXPERIMENTS.items() if (PRETRAINED / e.reference_file).is_file()]
    assert "relu-tanh" in shipped
    stale = [n for n in shipped if not made_with_full_preset(n, load_reference(n))]
    assert stale == [], f"remake (or grow) these references: {stale}"
    for n in shipped:
        assert len(load_reference(n)["seeds"]) >= 3, n


def test_the_saturation_preset_takes_scale_1_from_every_shipped_relu_tanh_seed():
    """relu-tanh-saturation's full preset at input scale 1 is relu-tanh's (but for the cap), so
    its reference trains only the other scales: a preset drifting apart would retrain it."""
    from dataclasses import replace

    from analysis.experiments.reference import load_reference
    from analysis.experiments.relu_tanh_saturation import PRESETS, lends

    runs = load_reference("relu-tanh")["runs"]
    assert len(runs) >= 3
    for r in runs:
        assert lends(r, replace(PRESETS["full"], input_scale=1.0, input_scales=(), seed=r.config["seed"]))
        assert not lends(r, replace(PRESETS["full"], input_scale=0.3, input_scales=(), seed=r.config["seed"]))
