import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fractions import Fraction  # noqa: E402

from checker.allocator import keep_freed_memory  # noqa: E402
from checker.certificate import Certificate  # noqa: E402
from checker.model import ModelConfig, weights_sha256  # noqa: E402
from checker.verify import check_certificate  # noqa: E402

keep_freed_memory()  # as certcheck and certify do (checker/allocator.py)


def random_params(cfg: ModelConfig, seed: int, scale: float = 1.0, bias_scale: float = 0.0) -> dict[str, np.ndarray]:
    """Random float32 weights (biases random too when bias_scale > 0)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in cfg.shapes().items():
        s = bias_scale if name.split(".")[-1].startswith("b_") else scale
        out[name] = (rng.standard_normal(shape) * s).astype(np.float32)
    return out


@pytest.fixture
def root() -> str:
    return ROOT


def certificate(cfg: ModelConfig, params: dict[str, np.ndarray], schema: str = "brute-force",
                witness: dict | None = None) -> Certificate:
    """A version-1 certificate of `schema` claiming exactly what the Python checker proves."""
    cert = Certificate(1, schema, 1, cfg, weights_sha256(cfg, params), params, dict(witness or {}), Fraction(0), {})
    verdict = check_certificate(cert)
    assert verdict.verdict == "accepted", verdict.reason
    cert.claim = verdict.bound
    return cert


def certcheck_main(capsys, *args) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `certcheck ARGS` run in this process (argparse errors included)."""
    from checker.cli import main

    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse errors
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err
