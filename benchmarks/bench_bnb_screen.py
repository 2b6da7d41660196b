"""The branch-and-bound search's torch screen against the checker's numpy function, on the same nodes.

For each model it collects the nodes a search evaluates (the roots and the children of its first waves), then
decides each with `generator.branch_and_bound.SortedScreen` (torch, on every device present: the CPU, and CUDA
when there is one) and with the checker's `failing_sorted` (numpy), in one run, asserts that the verdicts agree
and prints the time of each and the ratio. Not run by the test suite; run it with `nice`.

    nice python benchmarks/bench_bnb_screen.py [--models GLOB] [--nodes N] [--threads T]
"""

from __future__ import annotations

import argparse
import glob
import os
import time
from collections import defaultdict

import flint
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def collect(tables, nodes: int) -> list:
    """The first `nodes` nodes of the search's order: roots, then children of the given-up nodes it splits."""
    from checker.schemas.branch_and_bound import children
    from generator.branch_and_bound import Search

    found = Search(tables, max_evaluated=nodes, device="cpu")
    out = list(found.roots)
    for node, fate in found.fate.items():
        if fate[0] == "split":
            out += children(node, *fate[2])
    return out[:nodes]


def timed(fn) -> tuple[float, object]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    value = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=os.path.join(ROOT, "models", "max*-v64-s123.safetensors"))
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from checker.maxofk import build_tables
    from checker.schemas.branch_and_bound import MaxBounds, failing_sorted, table_intervals
    from generator.branch_and_bound import SortedScreen
    from generator.modelio import load_model

    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"devices: {', '.join(map(str, devices))}; torch {torch.__version__}; {args.threads} CPU thread(s)")
    flint.ctx.prec = 128
    for path in sorted(glob.glob(args.models)):
        cfg, params, _ = load_model(path)
        tables = build_tables(cfg, params)
        nodes = collect(tables, args.nodes)
        by_m = defaultdict(list)
        for node in nodes:
            by_m[node[1]].append(node)
        intervals = table_intervals(tables)
        bounds = {m: MaxBounds(intervals, m) for m in by_m}
        numpy_s, failing = timed(lambda: {n for m, g in by_m.items()
                                          for _, n in failing_sorted(bounds[m], list(enumerate(g)))})
        expected = {m: [n not in failing for n in g] for m, g in by_m.items()}
        line = f"{os.path.basename(path)}: {len(nodes)} nodes, {len(nodes) - len(failing)} certified; numpy {numpy_s:.2f} s"
        for device in devices:
            screen_s, got = timed(lambda: {m: SortedScreen(bounds[m], device).certified(g, cfg.n_ctx)
                                           for m, g in by_m.items()})
            assert got == expected, f"{device}: the torch screen disagrees with the checker"
            line += f"; torch {device.type} {screen_s:.2f} s (ratio {screen_s / numpy_s:.2f})"
        print(line + "; verdicts identical", flush=True)


if __name__ == "__main__":
    main()
