"""Branch and bound against brute force (Max-of-4) and cubic per-output (every K), generated and checked in one run.

For each model it runs the branch-and-bound search once (exact target for K <= 5, --budget-large for K >= 10),
writes the certificate (claim = the checker's bound), checks it with `checker.verify.check_file` and times
generation and check (wall and CPU seconds). In the same run it generates and checks the baselines the same way
(`generator.generate.build_certificate`: brute force for K = 4, cubic per-output for every K). It also records
the bound against proof length along the search's step sequence (what each --budget buys, exact counts) and
plots one curve per model to docs/report/branch_and_bound.png. Prints one line per model and writes the
figures as JSON. Not run by the test suite. Run it with `nice`: the CPU is shared.

    nice python benchmarks/bench_branch_and_bound.py [--models GLOB] [--budget-large 1e10] [--out-dir DIR]
        [--json FILE] [--plot FILE] [--no-baselines] [--ship DIR] [--device cpu|cuda]
    python benchmarks/bench_branch_and_bound.py --merge run1.json run2.json [--json all.json]   # several runs
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import time
from fractions import Fraction

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> dict:
    return {"wall_s": time.perf_counter() - start[0], "cpu_s": time.process_time() - start[1]}


def timed_check(path: str) -> dict:
    from checker.verify import check_file

    start = clocks()
    v = check_file(path)
    out = {"verdict": v.verdict, "reason": v.reason, **since(start), "bytes": os.path.getsize(path)}
    if v.bound is not None:
        out.update(bound=f"{v.bound.numerator}/{v.bound.denominator}", bound_float=float(v.bound),
                   proof_length=v.result.proof_length, details=v.result.details)
    return out


def branch_and_bound(model: str, budget: float | None, out: str, device: str | None = None) -> tuple[dict, list]:
    """Search once; write the certificate at `budget` (claim = the checker's bound); the frontier of the search."""
    import flint

    from checker.certificate import FORMAT_VERSION, Certificate
    from checker.maxofk import build_tables
    from checker.model import weights_sha256
    from checker.verify import check_certificate
    from generator.branch_and_bound import Search, frontier, witness_of
    from generator.certwriter import write_certificate
    from generator.modelio import load_model

    cfg, params, _ = load_model(model)
    limit = float("inf") if budget is None else budget
    start = clocks()
    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    found = Search(tables, limit, device=device)
    witness, info = witness_of(found, limit)
    cert = Certificate(FORMAT_VERSION, "branch-and-bound", 1, cfg, weights_sha256(cfg, params), params, witness,
                       Fraction(0), {})
    verdict = check_certificate(cert)
    if verdict.bound is None:
        raise RuntimeError(f"the checker rejected the search's tree: {verdict.reason}")
    cert.claim = verdict.bound
    cert.meta = {"generator": "benchmarks/bench_branch_and_bound.py", "proof_length": str(verdict.result.proof_length),
                 "budget": "none" if budget is None else f"{budget:g}"}
    write_certificate(out, cert)
    row = {"generate": since(start), "search": info}
    total = cfg.d_vocab ** cfg.n_ctx
    points = [(ops, correct / total) for ops, correct in frontier(found, limit)]
    return row, points


def baseline(model: str, strategy: str, options: dict, out: str) -> dict:
    """Generate a baseline certificate with the project's generator, then check it; both timed."""
    from generator.certwriter import write_certificate
    from generator.generate import build_certificate
    from generator.modelio import load_model

    cfg, params, _ = load_model(model)
    start = clocks()
    cert, _ = build_certificate(cfg, params, strategy, options, progress=False)
    generated = since(start)
    write_certificate(out, cert)
    return {"generate": generated, "check": timed_check(out)}


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
    ax.set_ylim(0, 1.005)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("branch-and-bound: bound against proof length (each point a --budget)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def line(name: str, row: dict) -> str:
    def part(label: str, gen: dict, chk: dict) -> str:
        return (f"{label} {chk['verdict']} bound {chk.get('bound_float', 0):.6f} length {chk.get('proof_length', 0):.3g} "
                f"generate {gen['wall_s']:.1f} s / {gen['cpu_s']:.1f} s CPU, check {chk['wall_s']:.1f} s / "
                f"{chk['cpu_s']:.1f} s CPU, {chk['bytes'] / 1e6:.2f} MB")

    out = [f"{name}: " + part("branch-and-bound", row["generate"], row["check"])]
    for kind, base in row.get("baselines", {}).items():
        out.append(part(kind, base["generate"], base["check"]) +
                   f" (bnb/{kind} check CPU {row['check']['cpu_s'] / max(base['check']['cpu_s'], 1e-9):.3f})")
    return "\n  | ".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=os.path.join(ROOT, "models", "*.safetensors"))
    parser.add_argument("--budget-large", type=float, default=1e10, help="budget for K >= 10 (default 1e10)")
    parser.add_argument("--out-dir", default="/tmp/bnb-bench", help="where the generated certificates go")
    parser.add_argument("--device", default=None, help="torch device of the search (default: cuda when present)")
    parser.add_argument("--no-baselines", action="store_true", help="skip brute force and cubic per-output")
    parser.add_argument("--ship", default=None, help="copy each accepted branch-and-bound certificate of at most "
                        "--ship-mb MB here (certificates/)")
    parser.add_argument("--ship-mb", type=float, default=2.0)
    parser.add_argument("--json", default=None, help="write the figures here")
    parser.add_argument("--plot", default=os.path.join(ROOT, "docs", "report", "branch_and_bound.png"))
    parser.add_argument("--merge", nargs="+", help="only plot the frontiers of these JSON files (earlier runs)")
    args = parser.parse_args()
    if args.merge:  # one plot (and with --json one file) from several runs
        merged = {"runs": [], "models": {}}
        for path in args.merge:
            with open(path) as f:
                run = json.load(f)
            merged["runs"].append({"machine": run["machine"], "date": run["date"], "models": sorted(run["models"])})
            merged["models"].update(run["models"])
        plot({name: row["frontier"] for name, row in merged["models"].items() if row.get("frontier")}, args.plot)
        print(f"wrote {args.plot}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(merged, f, indent=1)
        return
    os.makedirs(args.out_dir, exist_ok=True)
    machine = (f"{platform.node()} · {os.cpu_count()} CPUs · load {os.getloadavg()[0]:.1f} · "
               f"python {platform.python_version()}")
    print(f"machine: {machine}", flush=True)
    results, curves = {}, {}
    for model in sorted(glob.glob(args.models)):
        name = os.path.basename(model).removesuffix(".safetensors")
        k = int(name.split("-")[0].removeprefix("max"))
        budget = args.budget_large if k >= 10 else None
        out = os.path.join(args.out_dir, f"{name}.branch-and-bound.cert")
        row, points = branch_and_bound(model, budget, out, args.device)
        row.update(model=name, budget=budget, check=timed_check(out), frontier=points)
        if not args.no_baselines:
            row["baselines"] = {}
            if k == 4:
                row["baselines"]["brute-force"] = baseline(model, "brute-force", {},
                                                           os.path.join(args.out_dir, f"{name}.brute-force.cert"))
            row["baselines"]["cubic-per-output"] = baseline(
                model, "cubic", {"direct_path": "per-output"}, os.path.join(args.out_dir, f"{name}.cubic-per-output.cert"))
        results[name] = row
        print(line(name, row), flush=True)
        if points:
            curves[name] = points
            print(f"  frontier: {len(points)} points, from {points[0][0]:.3g} ops ({points[0][1]:.4f}) to "
                  f"{points[-1][0]:.3g} ops ({points[-1][1]:.6f})", flush=True)
        if args.ship and row["check"]["verdict"] == "accepted" and row["check"]["bytes"] <= args.ship_mb * 1e6:
            shutil.copy(out, os.path.join(args.ship, os.path.basename(out)))
            print(f"  shipped {os.path.basename(out)}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                       "models": results}, f, indent=1)
    if curves:
        plot(curves, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
