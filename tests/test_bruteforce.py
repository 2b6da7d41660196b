"""The brute-force schema against an independent exhaustive evaluation, and its certificates."""

import flint
import pytest
from reference import exhaustive_accuracy
from small_models import adversarial_models

from checker.maxofk import build_tables
from checker.schemas.brute_force import count_correct

MODELS = adversarial_models()


@pytest.mark.parametrize("name,cfg,params", MODELS, ids=[m[0] for m in MODELS])
def test_brute_force_count_equals_exhaustive(name, cfg, params):
    want = exhaustive_accuracy(params)
    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    total = cfg.d_vocab ** cfg.n_ctx
    fast = count_correct(tables)
    exact = count_correct(tables, force_exact=True)
    assert fast["undecided"] == 0 and exact["undecided"] == 0
    assert fast["correct"] + fast["wrong"] == total
    assert fast["correct"] == exact["correct"] == want * total, name


def test_brute_force_on_trained_model_equals_exhaustive():
    pytest.importorskip("torch", reason="training needs the generator extra (torch)")
    from checker.model import ModelConfig
    from generator.train import TrainConfig, train

    cfg = ModelConfig(d_vocab=8, d_model=8, d_head=8, n_ctx=3)
    params, _ = train(cfg, TrainConfig(seed=4, steps=300), progress=False)
    want = exhaustive_accuracy(params)
    flint.ctx.prec = 128
    got = count_correct(build_tables(cfg, params))
    assert got["correct"] == want * 512
    assert 0.5 < want < 1  # a partly trained model: both outcomes occur


@pytest.mark.parametrize("name,cfg,params", MODELS, ids=[m[0] for m in MODELS])
def test_block_verdicts_are_the_per_input_verdicts(name, cfg, params):
    """The shared-prefix fast path decides every input exactly as the per-input one (same floats, same order)."""
    import numpy as np

    from checker.schemas.brute_force import ExactEvaluator, fast_path_tables, query_fast_path

    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    V, K = cfg.d_vocab, cfg.n_ctx
    exact = ExactEvaluator(tables)
    float_tables = fast_path_tables(tables)
    compared = 0
    for q in range(V):
        fast = None if float_tables is None else query_fast_path(tables, q, exact, float_tables)
        if fast is None or K < 2:
            continue
        toks = np.array(np.unravel_index(np.arange(V ** (K - 1)), (V,) * (K - 1))).T  # lexicographic, as blocks
        heads = toks[::V, : K - 2]
        per_input = fast.verdicts(toks)
        assert np.array_equal(fast.block_verdicts(heads), per_input), (name, q)
        compared += 1
    assert compared > 0 or name == "huge"  # huge: every exponential underflows, all inputs take the exact path
