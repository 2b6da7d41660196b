"""The cubic schema: every input it certifies is correct (independent exhaustive evaluation)."""

import functools
import itertools
from fractions import Fraction

import flint
import pytest
from reference import exhaustive_accuracy
from small_models import adversarial_models

from checker.maxofk import build_tables
from checker.schemas.brute_force import ExactEvaluator
from checker.schemas.cubic import cubic_counts

MODELS = adversarial_models()


def _covered(cases, V, K):
    """Inputs covered by the certified cases: (q, m, c) with every non-max non-query token certified."""
    for t in itertools.product(range(V), repeat=K):
        q, m = t[-1], max(t)
        nonmax = [x for x in t[:-1] if x != m]
        ks = cases.get((q, m, len(nonmax)))
        if ks is not None and all(k in ks for k in nonmax):
            yield t


def _trained(cfg_args, seed, steps):
    pytest.importorskip("torch", reason="training needs the generator extra (torch)")
    return _trained_cached(cfg_args, seed, steps)


@functools.lru_cache(maxsize=None)
def _trained_cached(cfg_args, seed, steps):
    from checker.model import ModelConfig
    from generator.train import TrainConfig, train

    cfg = ModelConfig(*cfg_args)
    params, _ = train(cfg, TrainConfig(seed=seed, steps=steps), progress=False)
    return cfg, params, exhaustive_accuracy(params)


@pytest.mark.parametrize("direct_path", ["joint", "separate", "per-output"])
@pytest.mark.parametrize("name,cfg,params", MODELS, ids=[m[0] for m in MODELS])
def test_cubic_bound_at_most_exhaustive(name, cfg, params, direct_path):
    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    got = cubic_counts(tables, direct_path)
    assert Fraction(got["correct"], cfg.d_vocab ** cfg.n_ctx) <= exhaustive_accuracy(params)


@pytest.mark.parametrize("direct_path", ["joint", "separate", "per-output"])
@pytest.mark.parametrize("cfg_args,seed,steps", [((8, 8, 8, 3), 4, 600), ((6, 8, 8, 4), 2, 800), ((10, 8, 8, 2), 1, 600)])
def test_every_covered_input_is_correct_on_trained_models(cfg_args, seed, steps, direct_path):
    cfg, params, accuracy = _trained(cfg_args, seed, steps)
    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    got = cubic_counts(tables, direct_path, collect=True)
    covered = list(_covered(got["cases"], cfg.d_vocab, cfg.n_ctx))
    assert len(covered) == got["correct"]  # the count is exactly the covered inputs
    assert got["correct"] > 0  # a meaningful test: the proof certifies something
    exact = ExactEvaluator(tables)  # brute force's exact path is itself tested against the reference
    assert all(exact.correct(t) for t in covered)
    assert Fraction(got["correct"], cfg.d_vocab ** cfg.n_ctx) <= accuracy


@pytest.mark.parametrize("name,cfg,params", MODELS, ids=[m[0] for m in MODELS])
def test_every_covered_input_is_correct_adversarial(name, cfg, params):
    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    got = cubic_counts(tables, "joint", collect=True)
    exact = ExactEvaluator(tables)
    covered = list(_covered(got["cases"], cfg.d_vocab, cfg.n_ctx))
    assert len(covered) == got["correct"]
    assert all(exact.correct(t) for t in covered)


def _shipped(name):
    import os

    from conftest import ROOT

    return os.path.join(ROOT, "certificates", name)


@pytest.mark.parametrize("seed", [123, 50, 104, 519, 742])
def test_shipped_cubic_at_most_brute_force(seed):
    from checker.certificate import read_certificate

    cubic = read_certificate(_shipped(f"max4-v64-s{seed}.cubic.cert"))
    brute = read_certificate(_shipped(f"max4-v64-s{seed}.brute-force.cert"))
    assert cubic.sha256 == brute.sha256
    assert Fraction(9, 10) < cubic.claim <= brute.claim


@pytest.mark.parametrize("tamper", ["claim", "witness_value", "witness_extra", "witness_missing", "weight"])
def test_cubic_tampering_rejected(tmp_path, tamper):
    from checker.verify import check_file

    text = open(_shipped("max4-v64-s123.cubic.cert"), encoding="utf-8").read()
    claim_line = next(line for line in text.splitlines() if line.startswith("claim "))
    num, den = map(int, claim_line.split()[1].split("/"))
    raised = Fraction(num, den) + Fraction(1, 64 ** 4)
    changed = {
        "claim": text.replace(claim_line, f"claim {raised.numerator}/{raised.denominator}"),
        "witness_value": text.replace('direct_path "joint"', 'direct_path "optimistic"'),
        "witness_extra": text.replace('direct_path "joint"', 'direct_path "joint"\n  gap 3'),
        "witness_missing": text.replace('  direct_path "joint"\n', ""),
        "weight": text.replace("0x1", "0x1.8", 1),
    }[tamper]
    assert changed != text
    path = tmp_path / "t.cert"
    path.write_text(changed, encoding="utf-8")
    v = check_file(str(path))
    assert v.verdict in ("rejected", "malformed") and v.verdict != "accepted" and v.reason
