"""Hostile input, class by class (issue 14): wall time, peak memory (max RSS) and exit code of `certcheck` on each
file of tests/hostile/make_corpus.py, and of the costly `certify` commands on oversized models.

    python benchmarks/bench_hostile.py [--work-dir DIR] [--no-certify]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "hostile"))

from make_corpus import write_corpus  # noqa: E402


def run(argv: list[str]) -> tuple[int, float, int, str]:
    """(exit code, wall seconds, max RSS in MiB (GNU time), last line of output) of one command."""
    start = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "__RSS_KIB %M"] + argv, capture_output=True, text=True, cwd=ROOT,
                       errors="replace")
    wall = time.perf_counter() - start
    rss = [int(line.split()[1]) for line in p.stderr.splitlines() if line.startswith("__RSS_KIB")]
    text = [line for line in (p.stdout.strip() or p.stderr.strip()).splitlines()
            if not line.startswith("__RSS_KIB") and "\r" not in line]
    return p.returncode, wall, (rss[-1] // 1024 if rss else -1), (text[-1] if text else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work-dir", default=None)
    ap.add_argument("--no-certify", action="store_true")
    args = ap.parse_args()
    work = args.work_dir or tempfile.mkdtemp(prefix="hostile-")
    certcheck = [sys.executable, "-m", "checker"]
    print("| input | exit | wall s (with interpreter start) | check s | max RSS MiB | reason (cut) |")
    print("|---|---|---|---|---|---|")
    for path, _, what in write_corpus(os.path.join(work, "corpus")):
        code, wall, rss, last = run(certcheck + ["--json", path])
        row = json.loads(last)
        print(f"| {what} | {code} | {wall:.2f} | {row['seconds']:.2f} | {rss} | {row['reason'][:90]} |", flush=True)
    if args.no_certify:
        return
    from checker.model import ModelConfig
    from generator.modelio import save_model

    certify = [sys.executable, "-m", "generator"]
    models = {}
    for V, K in ((512, 20), (4096, 8)):
        cfg = ModelConfig(V, 32, 32, K)
        rng = np.random.default_rng(0)
        path = os.path.join(work, f"m{V}-{K}.safetensors")
        save_model(path, cfg, {n: (rng.standard_normal(s) * 0.1).astype(np.float32) for n, s in cfg.shapes().items()})
        models[V] = path
    for what, argv in (
        ("certify generate --strategy brute-force, K=20 d_vocab=512",
         ["generate", models[512], "--strategy", "brute-force", "-o", os.path.join(work, "x.cert")]),
        ("certify eval, d_vocab=4096 n_ctx=8 (--samples 100000)", ["eval", models[4096], "--samples", "100000"]),
        ("certify export-coq, Max-of-4/64 brute force",
         ["export-coq", os.path.join(ROOT, "certificates", "max4-v64-s123.brute-force.cert"), "-o",
          os.path.join(work, "x.v")]),
    ):
        code, wall, rss, last = run(certify + argv)
        print(f"| {what} | {code} | {wall:.2f} | | {rss} | {last[:90]} |", flush=True)


if __name__ == "__main__":
    main()
