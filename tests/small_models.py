"""Small models for soundness tests: trained, random and adversarial (enumerable: d_vocab^K <= ~1000)."""

from __future__ import annotations

import numpy as np

from checker.model import ModelConfig
from conftest import random_params


def adversarial_models() -> list[tuple[str, ModelConfig, dict[str, np.ndarray]]]:
    out = []
    cfg = ModelConfig(d_vocab=5, d_model=4, d_head=4, n_ctx=3)
    out.append(("random-bias", cfg, random_params(cfg, 11, scale=1.0, bias_scale=0.7)))
    cfg6 = ModelConfig(d_vocab=6, d_model=3, d_head=2, n_ctx=3)
    out.append(("random-v6", cfg6, random_params(cfg6, 5, scale=1.3, bias_scale=0.2)))
    cfg10 = ModelConfig(d_vocab=10, d_model=4, d_head=3, n_ctx=2)
    out.append(("random-v10-k2", cfg10, random_params(cfg10, 8, scale=1.0, bias_scale=0.3)))
    cfg4 = ModelConfig(d_vocab=4, d_model=3, d_head=3, n_ctx=4)
    out.append(("random-k4", cfg4, random_params(cfg4, 9, scale=1.5, bias_scale=0.5)))

    zero = {n: np.zeros_like(a) for n, a in random_params(cfg, 1).items()}
    out.append(("all-zero", cfg, zero))  # every logit ties: accuracy 0

    p = random_params(cfg, 2, bias_scale=0.3)
    p["unembed.W_U"][:, 3] = p["unembed.W_U"][:, 4]
    p["unembed.b_U"][3] = p["unembed.b_U"][4]
    out.append(("tied-unembed-columns", cfg, p))  # logit[3] == logit[4] always

    p = random_params(cfg, 3)
    p["blocks.0.attn.W_Q"][:] = 0  # uniform attention: many equal scores
    p["embed.W_E"][2] = p["embed.W_E"][1]  # two tokens with the same embedding
    out.append(("uniform-attention-dup-embed", cfg, p))

    out.append(("huge", cfg, random_params(cfg, 4, scale=3e9)))  # scores ~1e38: exponentials underflow
    out.append(("tiny", cfg, random_params(cfg, 6, scale=1e-12, bias_scale=1e-13)))
    out.append(("mixed-scale", cfg, {n: (a * np.float32(1e6 if "W_U" in n else 1e-3)).astype(np.float32)
                                     for n, a in random_params(cfg, 7, bias_scale=0.5).items()}))

    # A "designed" model that is nearly right: direct path reads the max, with exact ties at small vocab.
    p = {n: np.zeros_like(a) for n, a in random_params(cfg, 1).items()}
    p["embed.W_E"][:, 0] = np.arange(5, dtype=np.float32)
    p["unembed.W_U"][0, :] = np.arange(5, dtype=np.float32)
    p["unembed.b_U"][:] = -0.5 * np.arange(5, dtype=np.float32) ** 2
    out.append(("designed-query-only", cfg, p))  # correct exactly when the query is the max, ties elsewhere
    return out
