"""Sweep speed: per-stage times and the projected time of 151 seeds on W workers, against the shell-loop baseline.

    python benchmarks/bench_sweep.py --configs 4x64 --seeds paper:4 --workers 2       # runs a sweep, then prints
    python benchmarks/bench_sweep.py --store docs/sweep/results.sqlite               # figures of an existing store
    python benchmarks/bench_sweep.py --store docs/sweep/results.sqlite --since 2026-12-02T01:19   # its newer rows
    python benchmarks/bench_sweep.py --configs 4x64 --seeds paper:1 --baseline         # + the shell loop on seed 1

The baseline is what a sweep replaced: `certify train`, `certify eval`, `certify generate` per strategy and
`certcheck` on each certificate, one process each (so the exact check runs twice: in generate and in certcheck)."""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def stage_table(store: str, workers: int, since: str = "") -> None:
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    rows = [dict(r) for r in conn.execute("SELECT * FROM runs WHERE finished_at >= ?", [since])]
    sweeps = [dict(r) for r in conn.execute("SELECT * FROM sweeps")]
    for config in sorted({r["config"] for r in rows}, key=lambda c: tuple(map(int, c.split("x")))):
        sel = [r for r in rows if r["config"] == config]
        models = {r["model_sha256"]: r for r in sel if r["model_sha256"]}
        train = [m["train_s"] for m in models.values()]
        ev = [m["eval_s"] for m in models.values()]
        cpu = [m["train_cpu_s"] + m["eval_cpu_s"] for m in models.values() if m["train_cpu_s"] is not None]
        print(f"{config}: {len(models)} seeds; per seed, wall in one worker: train {statistics.fmean(train):.1f} s, "
              f"float eval {statistics.fmean(ev):.1f} s"
              + (f"; CPU train + eval {statistics.fmean(cpu):.1f} s ({len(cpu)} seeds)" if cpu else ""))
        per_seed = statistics.fmean(train) + statistics.fmean(ev)
        per_seed_cpu = statistics.fmean(cpu) if cpu else None
        for name in sorted({r["strategy"] for r in sel}):
            ok = [r for r in sel if r["strategy"] == name and r["verdict"] == "accepted"]
            refused = sum(r["strategy"] == name and r["verdict"] == "refused" for r in sel)
            if ok:
                gen, chk = statistics.fmean(r["generate_s"] for r in ok), statistics.fmean(r["check_s"] for r in ok)
                per_seed += gen + chk
                cpu = [r["prove_cpu_s"] for r in ok if r["prove_cpu_s"] is not None]
                per_seed_cpu = per_seed_cpu + statistics.fmean(cpu) if cpu and per_seed_cpu is not None else None
                print(f"    {name:40s} generate {gen:7.2f} s  check {chk:7.2f} s  ({len(ok)} accepted)"
                      + (f"  CPU {statistics.fmean(cpu):7.2f} s" if cpu else ""))
            elif refused:
                print(f"    {name:40s} refused ({refused}x): estimated check over the budget")
        print(f"    all stages {per_seed:.1f} s per seed (wall in one worker) -> 151 seeds on {workers} workers: "
              f"{151 * per_seed / workers / 60:.1f} min (ideal scaling; the target is 30 min)")
        if per_seed_cpu is not None:  # CPU seconds: what the stages cost on cores of their own
            print(f"    all stages {per_seed_cpu:.1f} CPU-s per seed -> 151 seeds on {workers} dedicated cores: "
                  f"{151 * per_seed_cpu / workers / 60:.1f} min")
    for s in sweeps:
        print(f"sweep run: {s['ran']} runs, {s['skipped']} skipped, {s['wall_s']:.0f} s wall, {s['workers']} workers "
              f"({s['executor']})")


def baseline(config: str, seed: int, strategies: list[str]) -> float:
    """The shell loop for one seed; returns its wall time."""
    k, v = config.split("x")
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "m.safetensors")
        start = time.perf_counter()
        run = lambda *cmd: subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)  # noqa: E731
        run(f"{BIN}/certify", "train", "--k", k, "--d-vocab", v, "--seed", str(seed), "--quiet", "-o", model)
        run(f"{BIN}/certify", "eval", model, "--json")
        for spec in strategies:
            name, *pairs = spec.split(":")
            cert = os.path.join(tmp, f"{spec.replace(':', '.')}.cert")
            run(f"{BIN}/certify", "generate", model, "--strategy", name, *[x for p in pairs for x in ("--option", p)],
                "--quiet", "-o", cert)
            run(f"{BIN}/certcheck", cert)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="report an existing results.sqlite instead of running a sweep")
    parser.add_argument("--configs", default="4x64")
    parser.add_argument("--seeds", default="paper:2")
    parser.add_argument("--strategies", default="brute-force,cubic,subcubic")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline", action="store_true", help="also time the shell loop on the first seed")
    parser.add_argument("--since", default="", help="with --store: only rows finished at or after this UTC time, "
                                                    "e.g. 2026-12-02T01:19")
    args = parser.parse_args()
    if args.store:
        stage_table(args.store, args.workers, args.since)
        return
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([f"{BIN}/certify", "sweep", "--configs", args.configs, "--seeds", args.seeds, "--strategies",
                        args.strategies, "--workers", str(args.workers), "--out", out, "--quiet"], check=False,
                       cwd=ROOT)
        wall = time.perf_counter() - start
        stage_table(os.path.join(out, "results.sqlite"), args.workers)
        print(f"certify sweep wall time (including start-up): {wall:.1f} s")
    if args.baseline:
        from generator.sweep import parse_seeds

        config, seed = args.configs.split(",")[0], parse_seeds(args.seeds)[0]
        sweep_one = None
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            subprocess.run([f"{BIN}/certify", "sweep", "--configs", config, "--seeds", str(seed), "--strategies",
                            args.strategies, "--workers", "1", "--out", out, "--quiet"], check=False, cwd=ROOT)
            sweep_one = time.perf_counter() - start
        loop = baseline(config, seed, args.strategies.split(","))
        print(f"one seed ({config}, seed {seed}), one worker: certify sweep {sweep_one:.1f} s; shell loop "
              f"(train, eval, generate, certcheck) {loop:.1f} s")


if __name__ == "__main__":
    main()
