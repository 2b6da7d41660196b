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


# (direct_path, top_outputs): top-outputs with no candidate, one, and every output but one as a candidate (V - 2)
VARIANTS = [("joint", 0), ("separate", 0), ("per-output", 0), ("top-outputs", 0), ("top-outputs", 1),
            ("top-outputs", -1)]


def _top(top_outputs, V):
    return V - 2 if top_outputs < 0 else min(top_outputs, V - 2)


@pytest.mark.parametrize("direct_path,top_outputs", VARIANTS)
@pytest.mark.parametrize("name,cfg,params", MODELS, ids=[m[0] for m in MODELS])
def test_cubic_bound_at_most_exhaustive(name, cfg, params, direct_path, top_outputs):
    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    got = cubic_counts(tables, direct_path, top_outputs=_top(top_outputs, cfg.d_vocab))
    assert Fraction(got["correct"], cfg.d_vocab ** cfg.n_ctx) <= exhaustive_accuracy(params)


@pytest.mark.parametrize("direct_path,top_outputs", VARIANTS)
@pytest.mark.parametrize("cfg_args,seed,steps", [((8, 8, 8, 3), 4, 600), ((6, 8, 8, 4), 2, 800), ((10, 8, 8, 2), 1, 600)])
def test_every_covered_input_is_correct_on_trained_models(cfg_args, seed, steps, direct_path, top_outputs):
    cfg, params, accuracy = _trained(cfg_args, seed, steps)
    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    got = cubic_counts(tables, direct_path, collect=True, top_outputs=_top(top_outputs, cfg.d_vocab))
    covered = list(_covered(got["cases"], cfg.d_vocab, cfg.n_ctx))
    assert len(covered) == got["correct"]  # the count is exactly the covered inputs
    assert got["correct"] > 0  # a meaningful test: the proof certifies something
    exact = ExactEvaluator(tables)  # brute force's exact path is itself tested against the reference
    assert all(exact.correct(t) for t in covered)
    assert Fraction(got["correct"], cfg.d_vocab ** cfg.n_ctx) <= accuracy


@pytest.mark.parametrize("direct_path,top_outputs", [("joint", 0), ("top-outputs", 1)])
@pytest.mark.parametrize("name,cfg,params", MODELS, ids=[m[0] for m in MODELS])
def test_every_covered_input_is_correct_adversarial(name, cfg, params, direct_path, top_outputs):
    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    got = cubic_counts(tables, direct_path, collect=True, top_outputs=_top(top_outputs, cfg.d_vocab))
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


def _shipped_with_witness(witness, claim=Fraction(0)):
    from checker.certificate import Certificate, read_certificate

    cert = read_certificate(_shipped("max4-v64-s123.cubic.cert"))
    return Certificate(cert.format_version, cert.schema, cert.schema_version, cert.config, cert.sha256,
                       cert.params, witness, claim, {})


@pytest.mark.parametrize("top", [-1, 63, Fraction(2), True, "2", None])
def test_top_outputs_witness_out_of_range_rejected(top):
    from checker.verify import check_certificate

    witness = {"direct_path": "top-outputs"} | ({} if top is None else {"top_outputs": top})
    v = check_certificate(_shipped_with_witness(witness))
    assert v.verdict == "rejected" and "top_outputs" in v.reason, v.reason


def test_top_outputs_between_separate_and_brute_force():
    """Every top-outputs bound uses, case by case, upper bounds no larger than separate's (docs/proofs/cubic.md),
    so it certifies at least as much; and never more than the exact accuracy (brute force)."""
    from checker.certificate import read_certificate
    from checker.verify import check_certificate

    brute = read_certificate(_shipped("max4-v64-s123.brute-force.cert")).claim
    separate = check_certificate(_shipped_with_witness({"direct_path": "separate"})).bound
    bounds = [check_certificate(_shipped_with_witness({"direct_path": "top-outputs", "top_outputs": r})).bound
              for r in (0, 2, 62)]
    assert all(separate <= b <= brute for b in bounds), (separate, bounds, brute)
    assert bounds[1] > separate  # the candidates matter on a trained model


def test_top_outputs_of_ranks_an_unknown_value_first():
    """A NaN entry (an overflowed bound) is never left out unseen: it is a candidate, or the rest is +inf."""
    import math

    import numpy as np

    from checker.schemas.cubic import top_outputs_of

    scores = np.array([[1.0, math.nan, 0.5, -math.inf]])
    candidates, rest = top_outputs_of(scores, 0)
    assert rest[0] == math.inf
    candidates, rest = top_outputs_of(scores, 1)
    assert candidates.tolist() == [[1]] and rest[0] == 1.0
    candidates, rest = top_outputs_of(scores, 2)
    assert sorted(candidates[0].tolist()) == [0, 1] and rest[0] == 0.5


@pytest.mark.parametrize("d_vocab", [1, 2, 3])
def test_generated_top_outputs_and_auto_on_tiny_vocabularies(d_vocab):
    """The generator's top-outputs witness is one the checker accepts for every vocabulary size (d_vocab 1 has no
    wrong output: top_outputs 0), and `auto`, which tries it, still finishes; never above the exact accuracy."""
    import numpy as np

    from checker.model import ModelConfig

    pytest.importorskip("torch", reason="the generator needs torch")
    from generator.generate import build_certificate

    cfg = ModelConfig(d_vocab=d_vocab, d_model=4, d_head=4, n_ctx=3)
    rng = np.random.default_rng(d_vocab)
    params = {n: (rng.standard_normal(s) * 0.5).astype(np.float32) for n, s in cfg.shapes().items()}
    for strategy, options in (("cubic", {"direct_path": "top-outputs"}), ("auto", {})):
        cert, info = build_certificate(cfg, params, strategy, options, progress=False)
        assert info["verdict"].verdict == "accepted"
        assert cert.claim <= exhaustive_accuracy(params)
