"""Coverage-guided fuzzing (atheris, libFuzzer) of the certificate parser and of the whole check.

    python tests/fuzz/fuzz_certcheck.py parser CORPUS_DIR -atheris_runs=1000000
    python tests/fuzz/fuzz_certcheck.py check CORPUS_DIR -atheris_runs=100000

A finding is any exception other than MalformedCertificate (parser), any verdict outside
accepted/rejected/malformed/refused, or an accepted bound above the exhaustive accuracy (check, on the small
models of the seeds; the check harness recomputes the weight hash so that mutated weights reach the schemas). The seeds (valid certificates of every schema on tiny models) are written into CORPUS_DIR
when it is empty. Run with `nice`; libFuzzer prints executions, exec/s and coverage (cov:, ft:).
"""

from __future__ import annotations

import os
import sys
from fractions import Fraction

import atheris

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

with atheris.instrument_imports(include=["checker"]):  # coverage of every checker module, schemas included
    import checker.exact  # noqa: F401
    import checker.maxofk  # noqa: F401
    import checker.schemas.brute_force  # noqa: F401
    import checker.schemas.cubic  # noqa: F401
    import checker.schemas.subcubic  # noqa: F401
    from checker.budget import Budget
    from checker.certificate import MalformedCertificate, parse_certificate
    from checker.model import weights_sha256
    from checker.verify import check_certificate

import numpy as np  # noqa: E402

BUDGET = Budget(max_work=2 * 10 ** 7, max_memory=1 << 30)
VERDICTS = ("accepted", "rejected", "malformed", "refused")


def seeds() -> list[str]:
    """Valid certificates of every schema on tiny models (the generator writes them; claims are exact)."""
    from generator.certwriter import format_certificate
    from generator.generate import build_certificate

    from checker.model import ModelConfig

    out = []
    for seed, cfg in enumerate((ModelConfig(3, 2, 2, 2), ModelConfig(4, 2, 1, 3))):
        rng = np.random.default_rng(seed)
        params = {n: (rng.standard_normal(s)).astype(np.float32) for n, s in cfg.shapes().items()}
        for strategy, options in (("brute-force", {}), ("cubic", {"direct_path": "separate"}),
                                  ("subcubic", {"attention": "exact", "direct_path": "query-max", "near_max": "drop"}),
                                  ("subcubic", {"attention": "low-rank", "rank": "1", "direct_path": "query-max",
                                                "attention_error": "global", "near_max": "refine"})):
            cert, _ = build_certificate(cfg, params, strategy, dict(options), progress=False)
            out.append(format_certificate(cert))
    return out


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def fuzz_parser(data: bytes) -> None:
    text = _text(data)
    if text is None:
        return
    try:
        parse_certificate(text, BUDGET)
    except MalformedCertificate as exc:
        assert len(str(exc)) <= 300
    except Exception as exc:
        if type(exc).__name__ != "OverBudget":
            raise


def fuzz_check(data: bytes) -> None:
    text = _text(data)
    if text is None:
        return
    try:
        cert = parse_certificate(text, BUDGET)
    except MalformedCertificate:
        return
    except Exception as exc:
        if type(exc).__name__ == "OverBudget":
            return
        raise
    cert.sha256 = weights_sha256(cert.config, cert.params)  # so that mutated weights reach the schemas
    verdict = check_certificate(cert, budget=BUDGET)
    assert verdict.verdict in VERDICTS
    cfg = cert.config
    if verdict.verdict == "accepted" and cfg.d_vocab ** cfg.n_ctx <= 64 and cfg.d_model <= 4:
        from reference import exhaustive_accuracy

        assert verdict.bound <= exhaustive_accuracy(cert.params), "accepted a bound above the exact accuracy"


def main() -> None:
    mode, corpus = sys.argv[1], sys.argv[2]
    os.makedirs(corpus, exist_ok=True)
    if not os.listdir(corpus):
        for i, text in enumerate(seeds()):
            with open(os.path.join(corpus, f"seed{i}.cert"), "w") as f:
                f.write(text)
    target = {"parser": fuzz_parser, "check": fuzz_check}[mode]
    atheris.Setup([sys.argv[0], corpus] + sys.argv[3:], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
