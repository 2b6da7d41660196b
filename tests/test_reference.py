"""The independent evaluator itself: its sign decisions must be rigorous when scores are huge.

A model whose attention scores are about 1e33 made the old evaluator (exponent differences rounded after
the subtraction, a heuristic stopping rule) accept meaningless signs; found by an independent review."""

from fractions import Fraction

import flint
import numpy as np

from checker.maxofk import build_tables
from checker.model import ModelConfig
from checker.schemas.brute_force import count_correct
from reference import exhaustive_accuracy

SCALES = {"embed.W_E": 1e-30, "pos_embed.W_pos": 1e-3, "blocks.0.attn.W_Q": 1.0, "blocks.0.attn.W_K": 1.0,
          "blocks.0.attn.W_V": 1e30, "blocks.0.attn.W_O": 1e-3, "blocks.0.attn.b_Q": 1e3,
          "blocks.0.attn.b_K": 1e30, "blocks.0.attn.b_V": 1e-30, "blocks.0.attn.b_O": 1e-30,
          "unembed.W_U": 1e-30, "unembed.b_U": 1e-30}


def huge_score_model(seed: int) -> tuple[ModelConfig, dict[str, np.ndarray]]:
    cfg = ModelConfig(d_vocab=8, d_model=4, d_head=2, n_ctx=3)
    rng = np.random.default_rng(seed)
    return cfg, {n: (rng.standard_normal(s) * SCALES[n]).astype(np.float32) for n, s in cfg.shapes().items()}


def test_reference_agrees_with_brute_force_when_scores_are_huge():
    for seed in range(3):
        cfg, params = huge_score_model(seed)
        old_prec = flint.ctx.prec
        flint.ctx.prec = 128
        try:
            stats = count_correct(build_tables(cfg, params))
        finally:
            flint.ctx.prec = old_prec
        assert stats["undecided"] == 0
        assert exhaustive_accuracy(params) == Fraction(stats["correct"], cfg.d_vocab ** cfg.n_ctx)
