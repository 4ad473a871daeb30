"""ZF Table 1 (correspondence): the table as the page computes it, against one net pass per mask set.

    nice -n 10 .venv/bin/python -m bench.bench_correspondence --repeats 5

The Correspondence page's default: the shipped CIFAR-10 AlexNet, five dog
pictures of the embedded sample, one box per picture and 20 random draws.
``correspondence_table`` runs the originals once and every masked copy
together (``analysis.correspondence._changes``); the peer calls
``correspondence`` once per set of boxes, as the table did before, which runs
the originals and five masked pictures each time. Both give the same numbers
(checked here). Times are medians of wall-clock seconds.
"""

from __future__ import annotations

import argparse

import torch

from bench.timing import timed

from alexnet.data import normalize
from alexnet.sample import load_sample
from alexnet.weights import load_model
from analysis._layers import Box
from analysis.correspondence import correspondence, correspondence_table, random_boxes


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.bench_correspondence", description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--trials", type=int, default=20)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    loaded, data = load_model("cifar10"), load_sample(train=False)
    dogs = (data.labels == data.classes.index("dog")).nonzero().flatten()[:5]
    x = normalize(data.images[dogs], loaded.mean, loaded.std)
    side = x.shape[-1]
    boxes = [Box(side // 4, side // 4, side // 2, side // 2)] * len(x)

    def per_set():  # the random draws as correspondence_table makes them, one call per set
        g = torch.Generator().manual_seed(0)
        sets = [boxes] + [random_boxes(boxes, side, side, g) for _ in range(a.trials)]
        return [correspondence(loaded.model, x, s) for s in sets]

    table = correspondence_table(loaded.model, x, {"part": boxes}, random_trials=a.trials)
    sets = per_set()
    pooled = torch.cat([s["act5"].pairs for s in sets[1:]])
    assert torch.allclose(table["random"]["act5"].pairs, pooled) and \
        table["part"]["act5"].delta == sets[0]["act5"].delta, "the two ways disagree"

    print(f"torch {torch.__version__}, {a.threads} threads, median of {a.repeats}; "
          f"{len(x)} pictures, 1 + {a.trials} sets of boxes")
    ours, _ = timed(lambda: correspondence_table(loaded.model, x, {"part": boxes}, random_trials=a.trials),
                    a.repeats)
    peer, _ = timed(per_set, a.repeats)
    print(f"correspondence_table (masked copies batched)  {ours:.3f} s")
    print(f"correspondence per set of boxes (the peer)    {peer:.3f} s")
    print(f"speed-up: {peer / ours:.1f}x")


if __name__ == "__main__":
    main()
