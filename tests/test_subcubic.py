"""The subcubic schema: every input its witness covers is correct; tampering with gaps is rejected."""

import itertools
from fractions import Fraction

import flint
import numpy as np
import pytest
from reference import exhaustive_accuracy
from small_models import adversarial_models
from test_cubic import _trained

from checker.certificate import Certificate
from checker.maxofk import build_tables
from checker.model import weights_sha256
from checker.schemas.brute_force import ExactEvaluator
from checker.verify import check_certificate

MODELS = adversarial_models()


def _certificate(cfg, params):
    from generator.generate import build_certificate

    cert, _ = build_certificate(cfg, params, "subcubic", progress=False)
    return cert


def _covered(gaps, V, K):
    g = np.array(gaps).reshape(V, V, K)
    for t in itertools.product(range(V), repeat=K):
        q, m = t[-1], max(t)
        nonmax = [x for x in t[:-1] if x != m]
        c = len(nonmax)
        gap = g[q, m, c]
        if gap > 0 and all(k <= m - gap for k in nonmax):
            yield t


def _check_covered_inputs(cfg, params):
    cert = _certificate(cfg, params)
    verdict = check_certificate(cert)
    assert verdict.verdict == "accepted"
    covered = list(_covered(cert.witness["gaps"], cfg.d_vocab, cfg.n_ctx))
    assert Fraction(len(covered), cfg.d_vocab ** cfg.n_ctx) == cert.claim
    flint.ctx.prec = 128
    exact = ExactEvaluator(build_tables(cfg, params))
    assert all(exact.correct(t) for t in covered)
    return cert


@pytest.mark.parametrize("cfg_args,seed,steps", [((8, 8, 8, 3), 4, 600), ((6, 8, 8, 4), 2, 800), ((10, 8, 8, 2), 1, 600)])
def test_subcubic_covered_inputs_correct_on_trained_models(cfg_args, seed, steps):
    cfg, params, accuracy = _trained(cfg_args, seed, steps)
    cert = _check_covered_inputs(cfg, params)
    assert 0 < cert.claim <= accuracy


@pytest.mark.parametrize("name,cfg,params", MODELS, ids=[m[0] for m in MODELS])
def test_subcubic_covered_inputs_correct_adversarial(name, cfg, params):
    cert = _check_covered_inputs(cfg, params)
    assert cert.claim <= exhaustive_accuracy(params)


def test_subcubic_gap_tampering_rejected():
    cfg, params, _ = _trained((8, 8, 8, 3), 4, 600)
    cert = _certificate(cfg, params)
    gaps = [list(row) for row in cert.witness["gaps"]]
    # lowering any claimed gap (claiming more tokens) must fail: the generator's gaps are minimal
    idx = next((r, c) for r, row in enumerate(gaps) for c, g in enumerate(row) if c >= 1 and g >= 2)
    tampered = [list(row) for row in gaps]
    tampered[idx[0]][idx[1]] -= 1
    for witness_gaps, word in [(tampered, "not certified"), (gaps[:-1], "rows"), ([[-1] * 3] + gaps[1:], "range")]:
        bad = Certificate(1, "subcubic", 1, cfg, cert.sha256, params,
                          {"direct_path": "mean-residual", "gaps": witness_gaps}, cert.claim, {})
        v = check_certificate(bad)
        assert v.verdict == "rejected" and word in v.reason, v.reason
    raised = Certificate(1, "subcubic", 1, cfg, cert.sha256, params, cert.witness,
                         cert.claim + Fraction(1, 8 ** 3), {})
    assert check_certificate(raised).verdict == "rejected"
    other = Certificate(1, "subcubic", 1, cfg, cert.sha256, params,
                        {"direct_path": "exact", "gaps": gaps}, cert.claim, {})
    assert check_certificate(other).verdict == "rejected"
    assert weights_sha256(cfg, params) == cert.sha256
