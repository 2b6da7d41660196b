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

STRATEGIES = ("brute-force", "cubic")


def build_certificate(cfg: ModelConfig, params: dict[str, np.ndarray], strategy: str, options: dict | None = None,
                      device: str | None = None, progress: bool = True) -> tuple[Certificate, dict]:
    """Search for a witness, compute its exact bound with the checker's library, return the certificate."""
    start = time.perf_counter()
    schema, version, witness = _search(cfg, params, strategy, dict(options or {}), device, progress)
    cert = Certificate(FORMAT_VERSION, schema, version, cfg, weights_sha256(cfg, params), params, witness,
                       Fraction(0), {})
    verdict = check_certificate(cert)  # exact: the claim is what the checker proves, never a float
    if verdict.bound is None:
        raise RuntimeError(f"the checker rejected the generator's own witness: {verdict.reason}")
    cert.claim = verdict.bound
    seconds = time.perf_counter() - start
    cert.meta = {"generator": f"certify {__version__}", "generation_seconds": f"{seconds:.2f}",
                 "proof_length": str(verdict.result.proof_length)}
    return cert, {"seconds": seconds, "verdict": verdict}


def _search(cfg, params, strategy, options, device, progress):
    if strategy == "brute-force":
        if options:
            raise ValueError("brute-force takes no options")
        return "brute-force", 1, {}
    if strategy == "cubic":
        direct_path = options.pop("direct_path", "joint")  # joint is never looser; separate is cheaper
        if options:
            raise ValueError(f"unknown cubic options: {sorted(options)} (known: direct_path)")
        return "cubic", 1, {"direct_path": direct_path}
    raise ValueError(f"unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
