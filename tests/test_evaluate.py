"""The float evaluation (generator/evaluate.py, table form) counts what the plain float64 forward pass counts."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the generator extra (torch) is not installed")

from conftest import random_params  # noqa: E402
from reference import forward_float64  # noqa: E402

from checker.model import ModelConfig  # noqa: E402
from generator import evaluate  # noqa: E402


def _forward_correct(params, tokens: np.ndarray) -> int:
    logits = forward_float64(params, tokens)
    target = tokens.max(axis=1)
    rows = np.arange(len(tokens))
    right = logits[rows, target].copy()
    logits[rows, target] = -np.inf
    return int((right > logits.max(axis=1)).sum())


@pytest.mark.parametrize("d_vocab,n_ctx", [(5, 3), (7, 4), (4, 1), (6, 2), (3, 6), (9, 3)])
def test_exhaustive_count_equals_the_forward_pass(d_vocab, n_ctx):
    cfg = ModelConfig(d_vocab=d_vocab, d_model=6, d_head=5, n_ctx=n_ctx)
    params = random_params(cfg, seed=d_vocab * 10 + n_ctx, scale=0.9, bias_scale=0.5)
    tokens = evaluate.all_sequences(d_vocab, n_ctx, 0, d_vocab ** n_ctx).numpy()
    result = evaluate.float_accuracy(cfg, params, progress=False)
    assert result["method"] == "exhaustive" and result["total"] == d_vocab ** n_ctx
    assert result["correct"] == _forward_correct(params, tokens)


def test_exhaustive_blocks_do_not_change_the_count(monkeypatch):
    cfg = ModelConfig(d_vocab=8, d_model=6, d_head=5, n_ctx=4)
    params = random_params(cfg, seed=4, scale=1.2, bias_scale=0.3)
    whole = evaluate.float_accuracy(cfg, params, progress=False)["correct"]
    monkeypatch.setattr(evaluate, "_BLOCK", 8 * 8 * 3)  # three prefixes per block, and a ragged last block
    assert evaluate.float_accuracy(cfg, params, progress=False)["correct"] == whole


def test_ties_count_as_wrong():
    cfg = ModelConfig(d_vocab=4, d_model=3, d_head=2, n_ctx=3)
    params = {n: np.zeros(s, dtype=np.float32) for n, s in cfg.shapes().items()}  # every logit equal
    assert evaluate.float_accuracy(cfg, params, progress=False)["correct"] == 0


@pytest.mark.parametrize("samples,batch", [(3000, 1000), (120, 40)])  # through the tables; the forward pass
def test_sampled_count_equals_the_forward_pass_on_the_same_samples(monkeypatch, samples, batch):
    cfg = ModelConfig(d_vocab=6, d_model=6, d_head=5, n_ctx=5)
    assert evaluate.uses_tables(cfg, samples) == (samples == 3000)
    params = random_params(cfg, seed=8, scale=0.9, bias_scale=0.5)
    monkeypatch.setattr(evaluate, "EXHAUSTIVE_LIMIT", 0)
    result = evaluate.float_accuracy(cfg, params, progress=False, samples=samples, seed=5, batch=batch)
    gen = torch.Generator(device="cpu").manual_seed(5)
    tokens = np.concatenate([torch.randint(0, 6, (batch, 5), generator=gen).numpy() for _ in range(samples // batch)])
    assert result["method"] == "sampled" and result["samples"] == samples
    assert result["correct"] == _forward_correct(params, tokens)
    low, high = result["ci95"]
    assert low <= result["accuracy"] <= high


def _shipped_models():
    import glob
    import os

    from conftest import ROOT
    return sorted(glob.glob(os.path.join(ROOT, "models", "*.safetensors")))


@pytest.mark.parametrize("path", _shipped_models(), ids=lambda p: p.rsplit("/", 1)[-1])
def test_certify_eval_runs_on_every_shipped_model(path, capsys):
    """`certify eval` within the default budget on each shipped model: sampled ones (K >= 5) are not charged for
    the exhaustive mode's d_vocab^(K-1) block (they were refused at 6.7e7 TiB); exhaustive ones keep their charge."""
    import json

    from checker.budget import Budget
    from generator.cli import _eval_batch, main
    from generator.modelio import load_model

    cfg, _, _ = load_model(path)
    exhaustive = cfg.d_vocab ** cfg.n_ctx <= evaluate.EXHAUSTIVE_LIMIT
    assert _eval_batch(cfg, evaluate.DEFAULT_SAMPLES, Budget()) >= 1  # the default run fits the default budget
    if exhaustive:  # the charge covers the prefix block that the exhaustive count builds
        assert evaluate.table_bytes(cfg, True) >= 8 * cfg.d_vocab ** (cfg.n_ctx - 1)
        return  # counted exhaustively by test_exhaustive_count_equals_the_forward_pass and the demo
    assert main(["eval", path, "--samples", "3000", "--json", "-q"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["method"] == "sampled" and result["samples"] == 3000 and 0 <= result["accuracy"] <= 1
