"""Exact path tables of the Max-of-K model (DESIGN.md, "The model and its exact meaning").

With x_q = W_E[q] + W_pos[K-1] the query residual and t the input (t_{K-1} = q):

    score_i     = (EQKE[q, t_i] + EQKP[q, i]) * 2^score_exp / sqrt(d_head)
    logit[j]    = EUPU[q, j] + sum_i a_i (EVOU[t_i, j] + PVOU[i, j]),   a = softmax(score)

where Q(q) = x_q W_Q + b_Q, EQKE[q, t] = Q(q).(W_E[t] W_K), EQKP[q, i] = Q(q).(W_pos[i] W_K + b_K),
EVOU[t] = W_E[t] W_V W_O W_U, PVOU[i] = (W_pos[i] W_V + b_V) W_O W_U and
EUPU[q] = (x_q + b_O) W_U + b_U. (Since sum_i a_i = 1, this is DESIGN.md's formula regrouped.)
Every table is exact: integers at a common power-of-two exponent.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import flint
import numpy as np

from checker.exact import Dyadic
from checker.model import ModelConfig


@dataclass
class MaxOfKTables:
    """Exact tables; `eqke`, `eqkp` share `score_exp`; `evou`, `pvou`, `eupu` share `value_exp`.

    EQKE = query key_tok^T is formed only when a schema reads `eqke`; the low-rank subcubic variant
    reads the factors `query` and `key_tok` instead."""

    config: ModelConfig
    query: Dyadic  # [d_vocab, d_head]: Q(q) for each query token
    key_tok: Dyadic  # [d_vocab, d_head]: W_E[t] W_K; shares its exponent with the key positions
    eqkp: Dyadic  # [d_vocab (query), n_ctx (key position)]
    evou: Dyadic  # [d_vocab (attended token), d_vocab (output)]
    pvou: Dyadic  # [n_ctx, d_vocab]
    eupu: Dyadic  # [d_vocab (query), d_vocab (output)]
    inv_sqrt_d_head: flint.arb  # enclosure of 1/sqrt(d_head) at the current precision

    @cached_property
    def eqke(self) -> Dyadic:
        """[d_vocab (query), d_vocab (key token)], exponent `score_exp`."""
        return self.query @ self.key_tok.transpose()

    @property
    def score_exp(self) -> int:
        return self.eqkp.exp

    @property
    def value_exp(self) -> int:
        return self.evou.exp


def _align(*mats: Dyadic) -> list[Dyadic]:
    e = min(m.exp for m in mats)
    return [m.with_exp(e) for m in mats]


def build_tables(cfg: ModelConfig, params: dict[str, np.ndarray]) -> MaxOfKTables:
    """Compute every path table exactly from the float32 weights."""
    d = {name: Dyadic.from_float32(arr[0] if name.startswith("blocks.0.attn.W") else arr)
         for name, arr in params.items()}
    attn = "blocks.0.attn."
    V, K = cfg.d_vocab, cfg.n_ctx
    W_E, W_pos, W_U = d["embed.W_E"], d["pos_embed.W_pos"], d["unembed.W_U"]
    x_query = W_E + W_pos.rows([K - 1]).broadcast_rows(V)
    query = x_query @ d[attn + "W_Q"] + d[attn + "b_Q"].broadcast_rows(V)
    key_tok, key_pos = _align(W_E @ d[attn + "W_K"], W_pos @ d[attn + "W_K"] + d[attn + "b_K"].broadcast_rows(K))
    ou = d[attn + "W_O"] @ W_U
    evou = W_E @ d[attn + "W_V"] @ ou
    pvou = (W_pos @ d[attn + "W_V"] + d[attn + "b_V"].broadcast_rows(K)) @ ou
    eupu = (x_query + d[attn + "b_O"].broadcast_rows(V)) @ W_U + d["unembed.b_U"].broadcast_rows(V)
    evou, pvou, eupu = _align(evou, pvou, eupu)
    return MaxOfKTables(cfg, query, key_tok, query @ key_pos.transpose(), evou, pvou, eupu,
                        flint.arb(cfg.d_head).rsqrt())


def table_ops(cfg: ModelConfig, with_eqke: bool = True) -> int:
    """Multiply-adds to form the tables exactly (counted in every schema's proof length); with_eqke=False
    leaves out the d_vocab^2 d_head products of EQKE (for schemas that never form it)."""
    V, K, m, h = cfg.d_vocab, cfg.n_ctx, cfg.d_model, cfg.d_head
    eqke = V * V * h if with_eqke else 0
    return 2 * ((V + K) * m * h * 3 + eqke + V * K * h + (V + K) * h * m + h * m * V + V * m * V + (V + K) * h * V)
