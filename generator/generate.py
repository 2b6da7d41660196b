"""Certificate generation: each strategy searches (in float) for a witness, then the claim comes from
the checker's exact computation, so the certificate the generator writes is one the checker accepts."""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np

from checker.certificate import FORMAT_VERSION, Certificate
from checker.model import ModelConfig, weights_sha256
from checker.verify import check_certificate
from generator import __version__

STRATEGIES = ("brute-force", "cubic", "subcubic", "auto")


def build_certificate(cfg: ModelConfig, params: dict[str, np.ndarray], strategy: str, options: dict | None = None,
                      device: str | None = None, progress: bool = True) -> tuple[Certificate, dict]:
    """Search for a witness, compute its exact bound with the checker's library, return the certificate."""
    start = time.perf_counter()
    if strategy == "auto":
        return _auto(cfg, params, dict(options or {}), device, progress)
    schema, version, witness = _search(cfg, params, strategy, dict(options or {}), device, progress)
    cert = Certificate(FORMAT_VERSION, schema, version, cfg, weights_sha256(cfg, params), params, witness,
                       Fraction(0), {})
    bar = None
    if progress and schema == "brute-force":
        from tqdm import tqdm

        bar = tqdm(total=cfg.d_vocab, desc="brute force (exact check)", unit="query", leave=False)
    callback = (lambda done, total: bar.update(done - bar.n)) if bar is not None else None
    try:
        verdict = check_certificate(cert, progress=callback)  # exact: the claim is what the checker proves
    finally:
        if bar is not None:
            bar.close()
    if verdict.bound is None:
        raise RuntimeError(f"the checker rejected the generator's own witness: {verdict.reason}")
    cert.claim = verdict.bound
    seconds = time.perf_counter() - start
    cert.meta = {"generator": f"certify {__version__}", "generation_seconds": f"{seconds:.2f}",
                 "proof_length": str(verdict.result.proof_length)}
    return cert, {"seconds": seconds, "verdict": verdict}


def brute_force_length(cfg: ModelConfig) -> int:
    """The brute-force proof length, known before running it (d_vocab^K inputs, 2 (K + 1) d_vocab ops each)."""
    return cfg.d_vocab ** cfg.n_ctx * 2 * (cfg.n_ctx + 1) * cfg.d_vocab


def _auto(cfg, params, options, device, progress):
    """The tightest certificate whose proof length is within options['budget'] (default: no limit)."""
    budget = float(options.pop("budget", "inf"))
    if options:
        raise ValueError(f"unknown auto options: {sorted(options)} (known: budget)")
    candidates = [("subcubic", {"near_max": "drop"}), ("subcubic", {"near_max": "refine"}),
                  ("cubic", {"direct_path": "separate"}), ("cubic", {"direct_path": "joint"}),
                  ("cubic", {"direct_path": "per-output"})]
    if cfg.d_vocab ** cfg.n_ctx <= 1 << 25 and brute_force_length(cfg) <= budget:
        candidates.append(("brute-force", {}))
    best = None
    for strategy, opts in candidates:
        cert, info = build_certificate(cfg, params, strategy, opts, device, progress)
        length = info["verdict"].result.proof_length
        if length <= budget and (best is None or cert.claim > best[0].claim):
            best = (cert, info)
    if best is None:
        raise ValueError(f"no strategy fits a proof-length budget of {budget:g}")
    return best


def _search(cfg, params, strategy, options, device, progress):
    if strategy == "brute-force":
        if options:
            raise ValueError("brute-force takes no options")
        return "brute-force", 1, {}
    if strategy == "cubic":
        direct_path = options.pop("direct_path", "joint")  # per-output is tighter, separate cheaper
        if options:
            raise ValueError(f"unknown cubic options: {sorted(options)} (known: direct_path)")
        if direct_path not in ("separate", "joint", "per-output"):
            raise ValueError("cubic direct_path must be separate, joint or per-output")
        return "cubic", 1, {"direct_path": direct_path}
    if strategy == "subcubic":
        direct_path = options.pop("direct_path", "mean-residual")
        near_max = options.pop("near_max", "refine")
        if options:
            raise ValueError(f"unknown subcubic options: {sorted(options)} (known: direct_path, near_max)")
        if near_max not in ("drop", "refine"):
            raise ValueError("subcubic near_max must be drop or refine")
        return "subcubic", 1, {"direct_path": direct_path, "near_max": near_max,
                               "gaps": search_gaps(cfg, params, near_max)}
    raise ValueError(f"unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")


def search_gaps(cfg: ModelConfig, params: dict[str, np.ndarray], near_max: str = "drop") -> list[list[int]]:
    """Smallest certifiable gap per (q, m, c), by binary search (the bound is monotone in the gap).

    The smallest gap is also the best for near_max "refine": the fewer tokens are left to refine, the
    shorter the proof, and a smaller prefix bound only makes each refined token easier to certify."""
    import flint

    from checker.maxofk import build_tables
    from checker.schemas.subcubic import SubcubicBounds

    old = flint.ctx.prec
    flint.ctx.prec = 128
    try:
        bounds = SubcubicBounds(build_tables(cfg, params))
    finally:
        flint.ctx.prec = old
    V, K = cfg.d_vocab, cfg.n_ctx
    q, m = np.meshgrid(np.arange(V), np.arange(V), indexing="ij")
    valid = np.stack([(q <= m) & ((q == m) | (c <= K - 2)) & ((m >= 1) | (c == 0)) for c in range(K)], axis=2)
    mm = np.broadcast_to(m[:, :, None], (V, V, K))
    lo = np.ones((V, V, K), dtype=np.int64)  # invariant: gaps below lo fail
    hi = np.where(valid, np.maximum(mm, 1), 0).astype(np.int64)  # candidate; checked below
    hi[:, :, 0] = np.where(valid[:, :, 0], 1, 0)
    ok_hi = _certified(bounds, hi) & valid
    while True:
        mid = (lo + hi) // 2
        active = ok_hi & (lo < hi)
        if not active.any():
            break
        ok_mid = _certified(bounds, np.where(active, mid, hi))
        hi = np.where(active & ok_mid, mid, hi)
        lo = np.where(active & ~ok_mid, mid + 1, lo)
    gaps = np.where(ok_hi, hi, 0)
    return gaps.reshape(V * V, K).tolist()


def _certified(bounds, gaps: np.ndarray) -> np.ndarray:
    f, _ = bounds.case_bounds(gaps)
    return np.isfinite(f) & (f < 0)
