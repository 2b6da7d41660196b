"""Branch and bound against brute force (Max-of-4) and cubic per-output (Max-of-5, 10, 20), in one run.

For each model it generates a branch-and-bound certificate (exact target, or --budget for K >= 10), checks it
with `checker.verify.check_file` and times the check (wall and CPU seconds), and in the same run checks the
shipped brute-force certificate (Max-of-4) or cubic per-output certificate (K >= 5) the same way. With
--frontier it also records the bound against proof length at every threshold the search reaches (what
--budget can buy) and plots it to docs/report/branch_and_bound.png. Prints one line per model and writes
the figures as JSON. Not run by the test suite. Run it with `nice`: the CPU is shared.

    nice python benchmarks/bench_branch_and_bound.py [--models GLOB] [--budget-large 1e10] [--frontier]
        [--out-dir DIR] [--json FILE] [--plot FILE] [--baseline-for NAMES]
    python benchmarks/bench_branch_and_bound.py --merge run1.json run2.json    # one plot from several runs
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import time
from fractions import Fraction

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed_check(path: str) -> dict:
    from checker.verify import check_file

    wall, cpu = time.perf_counter(), time.process_time()
    v = check_file(path)
    out = {"verdict": v.verdict, "reason": v.reason, "wall_s": time.perf_counter() - wall,
           "cpu_s": time.process_time() - cpu}
    if v.bound is not None:
        out.update(bound=f"{v.bound.numerator}/{v.bound.denominator}", bound_float=float(v.bound),
                   proof_length=v.result.proof_length, details=v.result.details)
    return out


def generate(model: str, budget: float | None, out: str, with_frontier: bool) -> tuple[dict, list]:
    """Search once; write the certificate (claim = the checker's bound) and, if asked, the frontier."""
    import flint

    from checker.certificate import FORMAT_VERSION, Certificate
    from checker.maxofk import build_tables
    from checker.model import weights_sha256
    from checker.verify import check_certificate
    from generator.branch_and_bound import _search_all, frontier, witness_of
    from generator.certwriter import write_certificate
    from generator.modelio import load_model

    cfg, params, _ = load_model(model)
    wall, cpu = time.perf_counter(), time.process_time()
    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    searched = _search_all(tables, float("inf") if budget is None else budget, False)
    witness, info = witness_of(tables, searched)
    cert = Certificate(FORMAT_VERSION, "branch-and-bound", 1, cfg, weights_sha256(cfg, params), params, witness,
                       Fraction(0), {})
    verdict = check_certificate(cert)
    cert.claim = verdict.bound
    cert.meta = {"generator": "benchmarks/bench_branch_and_bound.py", "proof_length": str(verdict.result.proof_length)}
    write_certificate(out, cert)
    row = {"gen_wall_s": time.perf_counter() - wall, "gen_cpu_s": time.process_time() - cpu,
           "bytes": os.path.getsize(out), "claim_float": float(cert.claim), "search": info}
    total = cfg.d_vocab ** cfg.n_ctx
    points = [(ops, c / total) for ops, c in frontier(tables, budget, searched)] if with_frontier else []
    return row, points


def plot(curves: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, points in sorted(curves.items()):
        xs, ys = zip(*points)
        ax.step(xs, ys, where="post", marker=".", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("proof length (checker operations, without exact-path arb operations)")
    ax.set_ylabel("certified accuracy bound")
    ax.set_ylim(max(0.5, min(y for points in curves.values() for _, y in points) - 0.01), 1.0005)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("branch-and-bound: bound against proof length, one curve per shipped model")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=os.path.join(ROOT, "models", "*.safetensors"))
    parser.add_argument("--budget-large", type=float, default=1e10, help="budget for K >= 10 (default 1e10)")
    parser.add_argument("--out-dir", default="/tmp/bnb-bench", help="where the generated certificates go")
    parser.add_argument("--frontier", action="store_true", help="also compute the bound-vs-length curves")
    parser.add_argument("--baseline-for", default="", help="comma-separated model names whose baseline is checked "
                        "(default: every model)")
    parser.add_argument("--json", default=None, help="write the figures here")
    parser.add_argument("--plot", default=os.path.join(ROOT, "docs", "report", "branch_and_bound.png"))
    parser.add_argument("--merge", nargs="+", help="only plot the frontiers of these JSON files (earlier runs)")
    args = parser.parse_args()
    if args.merge:
        curves = {}
        for path in args.merge:
            with open(path) as f:
                curves.update({name: row["frontier"] for name, row in json.load(f).items() if row.get("frontier")})
        plot(curves, args.plot)
        print(f"wrote {args.plot}")
        return
    os.makedirs(args.out_dir, exist_ok=True)
    print(f"machine: {platform.node()} · {os.cpu_count()} CPUs · load {os.getloadavg()[0]:.1f} · "
          f"python {platform.python_version()}", flush=True)
    results, curves = {}, {}
    for model in sorted(glob.glob(args.models)):
        name = os.path.basename(model).removesuffix(".safetensors")
        k = int(name.split("-")[0].removeprefix("max"))
        budget = args.budget_large if k >= 10 else None
        out = os.path.join(args.out_dir, f"{name}.branch-and-bound.cert")
        gen, points = generate(model, budget, out, args.frontier)
        row = {"model": name, "budget": budget, **gen, "bnb": timed_check(out)}
        baseline = "brute-force" if k == 4 else "cubic-per-output"
        base_cert = os.path.join(ROOT, "certificates", f"{name}.{baseline}.cert")
        wanted = not args.baseline_for or name in args.baseline_for.split(",")
        if wanted and os.path.exists(base_cert):
            row["baseline"] = {"kind": baseline, **timed_check(base_cert)}
        results[name] = row
        b = row["bnb"]
        line = f"{name}: branch-and-bound {b['verdict']} bound {b.get('bound_float', 0):.6f} " \
                              f"length {b.get('proof_length', 0):.3g} check {b['wall_s']:.1f} s wall / " \
                              f"{b['cpu_s']:.1f} s CPU, {row['bytes'] / 1e6:.2f} MB, generated in {row['gen_wall_s']:.0f} s"
        if "baseline" in row:
            base = row["baseline"]
            line += (f" | {baseline} bound {base.get('bound_float', 0):.6f} length {base.get('proof_length', 0):.3g} "
                     f"check {base['wall_s']:.1f} s wall / {base['cpu_s']:.1f} s CPU | ratio (bnb/baseline) wall "
                     f"{b['wall_s'] / base['wall_s']:.3f} CPU {b['cpu_s'] / base['cpu_s']:.3f}"
                     f" | same bound: {b.get('bound') == base.get('bound')}")
        print(line, flush=True)
        if points:
            curves[name] = points
            row["frontier"] = points
            print(f"  frontier: {len(curves[name])} points, from {curves[name][0][0]:.3g} ops "
                  f"({curves[name][0][1]:.4f}) to {curves[name][-1][0]:.3g} ops ({curves[name][-1][1]:.6f})", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if curves:
        plot(curves, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
