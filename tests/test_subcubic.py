"""The subcubic schema: every input its witness covers is correct; tampering with gaps is rejected."""

import itertools
from fractions import Fraction

import flint
import numpy as np
import pytest
from reference import exhaustive_accuracy
from small_models import adversarial_models
from test_cubic import _covered, _trained

from checker.certificate import Certificate
from checker.maxofk import build_tables
from checker.model import weights_sha256
from checker.schemas.brute_force import ExactEvaluator
from checker.schemas.subcubic import SubcubicBounds, certified_count, parse_gaps
from checker.verify import check_certificate

MODELS = adversarial_models()


def _certificate(cfg, params, near_max="refine"):
    from generator.generate import build_certificate

    cert, _ = build_certificate(cfg, params, "subcubic", {"near_max": near_max}, progress=False)
    return cert


def _covered_by_gaps(gaps, V, K):
    """Inputs the drop variant covers, derived from the witness alone."""
    g = np.array(gaps).reshape(V, V, K)
    for t in itertools.product(range(V), repeat=K):
        q, m = t[-1], max(t)
        nonmax = [x for x in t[:-1] if x != m]
        gap = g[q, m, len(nonmax)]
        if gap > 0 and all(k <= m - gap for k in nonmax):
            yield t


def _check_covered_inputs(cfg, params, near_max):
    cert = _certificate(cfg, params, near_max)
    verdict = check_certificate(cert)
    assert verdict.verdict == "accepted"
    V, K = cfg.d_vocab, cfg.n_ctx
    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    gaps = parse_gaps(cert.witness["gaps"], V, K)
    cases = certified_count(SubcubicBounds(tables), gaps, near_max, collect=True)["cases"]
    covered = list(_covered(cases, V, K))  # the cubic test's coverage rule: class (q, m, c), tokens in its set
    assert Fraction(len(covered), V ** K) == cert.claim
    if near_max == "drop":
        assert sorted(covered) == sorted(_covered_by_gaps(cert.witness["gaps"], V, K))
    exact = ExactEvaluator(tables)
    assert all(exact.correct(t) for t in covered)
    return cert


@pytest.mark.parametrize("near_max", ["drop", "refine"])
@pytest.mark.parametrize("cfg_args,seed,steps", [((8, 8, 8, 3), 4, 600), ((6, 8, 8, 4), 2, 800), ((10, 8, 8, 2), 1, 600)])
def test_subcubic_covered_inputs_correct_on_trained_models(cfg_args, seed, steps, near_max):
    cfg, params, accuracy = _trained(cfg_args, seed, steps)
    cert = _check_covered_inputs(cfg, params, near_max)
    assert 0 < cert.claim <= accuracy


@pytest.mark.parametrize("near_max", ["drop", "refine"])
@pytest.mark.parametrize("name,cfg,params", MODELS, ids=[m[0] for m in MODELS])
def test_subcubic_covered_inputs_correct_adversarial(name, cfg, params, near_max):
    cert = _check_covered_inputs(cfg, params, near_max)
    assert cert.claim <= exhaustive_accuracy(params)


def test_subcubic_gap_tampering_rejected():
    cfg, params, _ = _trained((8, 8, 8, 3), 4, 600)
    cert = _certificate(cfg, params, "drop")
    gaps = [list(row) for row in cert.witness["gaps"]]
    # lowering any claimed gap (claiming more tokens) must fail: the generator's gaps are minimal
    idx = next((r, c) for r, row in enumerate(gaps) for c, g in enumerate(row) if c >= 1 and g >= 2)
    tampered = [list(row) for row in gaps]
    tampered[idx[0]][idx[1]] -= 1
    for witness_gaps, word in [(tampered, "not certified"), (gaps[:-1], "rows"), ([[-1] * 3] + gaps[1:], "range")]:
        bad = Certificate(1, "subcubic", 1, cfg, cert.sha256, params,
                          {"direct_path": "mean-residual", "near_max": "drop", "gaps": witness_gaps}, cert.claim, {})
        v = check_certificate(bad)
        assert v.verdict == "rejected" and word in v.reason, v.reason
    raised = Certificate(1, "subcubic", 1, cfg, cert.sha256, params, cert.witness,
                         cert.claim + Fraction(1, 8 ** 3), {})
    assert check_certificate(raised).verdict == "rejected"
    other = Certificate(1, "subcubic", 1, cfg, cert.sha256, params,
                        {"direct_path": "exact", "near_max": "drop", "gaps": gaps}, cert.claim, {})
    assert check_certificate(other).verdict == "rejected"
    unknown = Certificate(1, "subcubic", 1, cfg, cert.sha256, params,
                          {"direct_path": "mean-residual", "near_max": "guess", "gaps": gaps}, cert.claim, {})
    assert check_certificate(unknown).verdict == "rejected"
    assert weights_sha256(cfg, params) == cert.sha256
