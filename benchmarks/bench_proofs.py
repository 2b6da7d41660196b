"""Generation + exact check time and certified bound of every strategy on the shipped models.

Prints one line per (model, strategy). Brute force only for K = 4 (pass --no-brute-force to skip it).
Reference figures (Gross et al.'s public float32 code on this kind of machine, from the issues):
cubic 14-45 s for Max-of-4/64, ~100 s for Max-of-20/64, ~6 min for Max-of-10/128; bounds
0.92-0.95 (cubic), 0.39-0.47 (default subcubic), 0.61-0.69 (best subcubic) on Max-of-4/64.
"""

import argparse
import glob
import os
import time

from checker.verify import check_certificate
from generator.generate import build_certificate
from generator.modelio import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="models")
    ap.add_argument("--no-brute-force", action="store_true")
    args = ap.parse_args()
    print(f"{'model':18} {'strategy':12} {'bound':>9} {'gen+check s':>11} {'check s':>8} {'proof length':>13}")
    for path in sorted(glob.glob(os.path.join(args.models, "*.safetensors"))):
        cfg, params, _ = load_model(path)
        strategies = ["cubic", "subcubic"]
        if cfg.n_ctx == 4 and not args.no_brute_force:
            strategies.insert(0, "brute-force")
        for strategy in strategies:
            start = time.perf_counter()
            cert, _ = build_certificate(cfg, params, strategy, progress=False)
            verdict = check_certificate(cert)
            total = time.perf_counter() - start
            assert verdict.verdict == "accepted", verdict.reason
            print(f"{os.path.basename(path)[:-12]:18} {strategy:12} {float(cert.claim):9.6f} {total:11.2f} "
                  f"{verdict.seconds:8.2f} {verdict.result.proof_length:13.3g}", flush=True)


if __name__ == "__main__":
    main()
