"""Brute force on Max-of-4 (d_vocab 64): a plain float64 numpy evaluation of all inputs versus the exact checker.

Prints, from one run on one machine:
  (a) a plain vectorised numpy float64 evaluation of every input (embed, attention, softmax, logits, strict argmax);
  (b) the checker's brute-force check of the shipped certificate (checker.verify.check_file);
  (c) the generation time of the same certificate (generator.generate.build_certificate, strategy brute-force);
and the ratio check / baseline. Not run by the test suite.

    python benchmarks/bench_bruteforce.py [--model M] [--cert C] [--batch N] [--skip-generate]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def numpy_baseline(cfg, params: dict[str, np.ndarray], batch: int) -> tuple[int, int]:
    """Count inputs whose max token's logit strictly beats every other logit, in plain float64 numpy."""
    V, K = cfg.d_vocab, cfg.n_ctx
    p = {name: np.asarray(arr, dtype=np.float64) for name, arr in params.items()}
    W_E, W_pos = p["embed.W_E"], p["pos_embed.W_pos"]
    W_Q, W_K, W_V, W_O = (p[f"blocks.0.attn.{n}"][0] for n in ("W_Q", "W_K", "W_V", "W_O"))
    b_Q, b_K, b_V = (p[f"blocks.0.attn.{n}"][0] for n in ("b_Q", "b_K", "b_V"))
    b_O, W_U, b_U = p["blocks.0.attn.b_O"], p["unembed.W_U"], p["unembed.b_U"]
    total = V ** K
    correct = 0
    for start in range(0, total, batch):
        idx = np.arange(start, min(total, start + batch), dtype=np.int64)
        tokens = np.empty((len(idx), K), dtype=np.int64)  # position 0 is the most significant digit
        rest = idx.copy()
        for i in range(K - 1, -1, -1):
            tokens[:, i] = rest % V
            rest //= V
        x = W_E[tokens] + W_pos                          # [b, K, d_model]
        query = x[:, -1] @ W_Q + b_Q                     # [b, d_head]
        keys = x @ W_K + b_K                             # [b, K, d_head]
        values = x @ W_V + b_V                           # [b, K, d_head]
        scores = (keys @ query[:, :, None])[:, :, 0] / math.sqrt(cfg.d_head)  # [b, K]
        scores -= scores.max(axis=1, keepdims=True)
        pattern = np.exp(scores)
        pattern /= pattern.sum(axis=1, keepdims=True)    # softmax over all K positions
        mixed = (pattern[:, None, :] @ values)[:, 0]     # [b, d_head]
        resid = x[:, -1] + mixed @ W_O + b_O             # [b, d_model]
        logits = resid @ W_U + b_U                       # [b, d_vocab]
        target = tokens.max(axis=1)
        rows = np.arange(len(idx))
        right = logits[rows, target].copy()
        logits[rows, target] = -np.inf
        correct += int((right > logits.max(axis=1)).sum())  # strict: a tie counts as wrong
    return correct, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.path.join(ROOT, "models/max4-v64-s123.safetensors"))
    parser.add_argument("--cert", default=os.path.join(ROOT, "certificates/max4-v64-s123.brute-force.cert"))
    parser.add_argument("--batch", type=int, default=1 << 16, help="inputs per numpy batch (default 65536)")
    parser.add_argument("--skip-generate", action="store_true", help="skip (c), the generation timing")
    args = parser.parse_args()

    from checker.verify import check_file
    from generator.modelio import load_model

    print(f"machine: {platform.node()} · {platform.processor() or platform.machine()} · {os.cpu_count()} CPUs · "
          f"python {platform.python_version()} · numpy {np.__version__}")
    cfg, params, _ = load_model(args.model)
    print(f"model: {os.path.relpath(args.model, ROOT)} (K={cfg.n_ctx}, d_vocab={cfg.d_vocab}, "
          f"d_model={cfg.d_model}, d_head={cfg.d_head}); {cfg.d_vocab ** cfg.n_ctx:,} inputs")

    start = time.perf_counter()
    correct, total = numpy_baseline(cfg, params, args.batch)
    baseline = time.perf_counter() - start
    print(f"(a) numpy float64 baseline, all inputs:   {baseline:8.2f} s   "
          f"{correct}/{total} correct ({correct / total:.6f}), not a proof")

    start = time.perf_counter()
    verdict = check_file(args.cert)
    check = time.perf_counter() - start
    if verdict.verdict != "accepted":
        raise SystemExit(f"the certificate was not accepted: {verdict.verdict}: {verdict.reason}")
    d = verdict.result.details
    print(f"(b) checker, brute-force certificate:     {check:8.2f} s   accuracy >= {verdict.bound} "
          f"({float(verdict.bound):.6f}); fast path decided {total - d['exact_path']:,}, exact path "
          f"{d['exact_path']:,} (undecided {d['undecided']}); proof length {verdict.result.proof_length:,}")

    if not args.skip_generate:
        from generator.generate import build_certificate

        start = time.perf_counter()
        cert, _ = build_certificate(cfg, params, "brute-force", progress=False)
        generate = time.perf_counter() - start
        same = "same claim as the shipped certificate" if cert.claim == verdict.claim else \
            f"claim {cert.claim} differs from the shipped {verdict.claim}"
        print(f"(c) generation (build_certificate):       {generate:8.2f} s   {same}")

    print(f"ratio check / baseline: {check / baseline:.2f}")
    if correct != verdict.bound * total:
        print(f"note: float64 count {correct} and proven count {verdict.bound * total} differ "
              f"(float rounding near ties, or undecided inputs)")


if __name__ == "__main__":
    main()
