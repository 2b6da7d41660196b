"""Generation + exact check time and certified bound of every strategy on the shipped models.

Prints one line per (model, strategy). Brute force only for K = 4 (pass --no-brute-force to skip it).
Reference figures (Gross et al.'s public float32 code, no certificate): from the issues, its cubic
proof takes 14-45 s for Max-of-4/64, ~100 s for Max-of-20/64, ~6 min for Max-of-10/128 on this kind of
machine, with bounds 0.92-0.95 (cubic), 0.39-0.47 (default subcubic), 0.61-0.69 (best subcubic) on
Max-of-4/64. From the paper's data (151 seeds, bound / brute-force accuracy): cubic 0.954 +- 0.008 (K=4),
0.942 (K=5), 0.915 (K=10), 0.888 (K=20); best subcubic 0.700 +- 0.036 (K=4) at about 2-3 million FLOPs.
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
    print(f"{'model':18} {'strategy':44} {'bound':>9} {'gen+check s':>11} {'check s':>8} {'proof length':>13}")
    for path in sorted(glob.glob(os.path.join(args.models, "*.safetensors"))):
        cfg, params, _ = load_model(path)
        strategies = [("subcubic", {"direct_path": "mean-residual", "near_max": "drop"}),
                      ("subcubic", {"attention": "low-rank", "rank": 1, "attention_error": "entrywise",
                                    "near_max": "refine"}),
                      ("subcubic", {"near_max": "refine"}),  # the default search: both direct paths
                      ("cubic", {"direct_path": "separate"}), ("cubic", {"direct_path": "joint"})]
        if cfg.d_vocab ** 4 * cfg.n_ctx <= 64 ** 4 * 20:
            strategies.append(("cubic", {"direct_path": "per-output"}))
        if cfg.n_ctx == 4 and not args.no_brute_force:
            strategies.append(("brute-force", {}))
        for strategy, options in strategies:
            start = time.perf_counter()
            cert, _ = build_certificate(cfg, params, strategy, options, progress=False)
            verdict = check_certificate(cert)
            total = time.perf_counter() - start
            assert verdict.verdict == "accepted", verdict.reason
            name = strategy + "".join(f" {v}" for v in options.values())
            print(f"{os.path.basename(path)[:-12]:18} {name:44} {float(cert.claim):9.6f} {total:11.2f} "
                  f"{verdict.seconds:8.2f} {verdict.result.proof_length:13.3g}", flush=True)


if __name__ == "__main__":
    main()
