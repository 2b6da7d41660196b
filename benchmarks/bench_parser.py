"""Parser time against file size: the hand-written parser (checker.certificate) against lark's LALR parser on the
same grammar (checker/certificate.lark), in the same run. Prints one row per size.

    python benchmarks/bench_parser.py [--max-lark-seconds 120]

The files: a valid certificate (d_vocab 64, d_model 1, brute force) with one witness vector of n zeros, and one
whose two largest tensors hold n float values each (d_vocab n / 32, d_model 32).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from fractions import Fraction

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from checker.certificate import Certificate, MalformedCertificate, parse_certificate  # noqa: E402
from checker.model import ModelConfig, weights_sha256  # noqa: E402
from generator.certwriter import format_certificate  # noqa: E402


def _cert(cfg: ModelConfig) -> str:
    rng = np.random.default_rng(0)
    params = {n: rng.standard_normal(s).astype(np.float32) for n, s in cfg.shapes().items()}
    return format_certificate(Certificate(1, "brute-force", 1, cfg, weights_sha256(cfg, params), params, {},
                                          Fraction(0), {}))


def vector_file(n: int) -> str:
    head, _, rest = _cert(ModelConfig(64, 1, 1, 2)).partition("witness {")
    return head + "witness {\n  zeros [" + " 0" * n + "]\n" + rest


def tensor_file(n: int) -> str:
    return _cert(ModelConfig(n // 32, 32, 1, 2))  # embed.W_E and unembed.W_U hold n values each


def _lark_parse(text: str, out) -> None:
    from lark import Lark

    grammar = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "checker", "certificate.lark")
    with open(grammar) as f:
        parser = Lark(f.read(), parser="lalr")
    start = time.perf_counter()
    parser.parse(text)
    out.put(time.perf_counter() - start)


def lark_seconds(text: str, limit: float) -> float | None:
    """lark's parse time (in a subprocess, killed after `limit` seconds: None)."""
    queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=_lark_parse, args=(text, queue))
    proc.start()
    proc.join(limit)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return None
    return queue.get() if not queue.empty() else None


def ours_seconds(text: str) -> float:
    start = time.perf_counter()
    try:
        parse_certificate(text)
    except MalformedCertificate:
        pass
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-lark-seconds", type=float, default=120.0)
    ap.add_argument("--max-exp", type=int, default=21)
    args = ap.parse_args()
    print("| body | values | file MiB | ours s | ours us/value | lark s |")
    print("|---|---|---|---|---|---|")
    for kind, make in (("witness vector", vector_file), ("tensor", tensor_file)):
        lark_alive = True
        for e in range(14, args.max_exp + 1, 1):
            n = 1 << e
            text = make(n)
            ours = ours_seconds(text)
            lark = lark_seconds(text, args.max_lark_seconds) if lark_alive else None
            lark_alive = lark is not None
            lark_text = f"{lark:.2f}" if lark is not None else f"> {args.max_lark_seconds:.0f} (stopped)"
            print(f"| {kind} | 2^{e} | {len(text) / 2 ** 20:.2f} | {ours:.3f} | {ours / n * 1e6:.2f} | {lark_text} |",
                  flush=True)


if __name__ == "__main__":
    main()
