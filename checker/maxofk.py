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


def inputs_of_cases(K: int, tally: np.ndarray) -> int:
    """sum over c >= 1 and g of tally[c, g] * C(K-1, c) * g^c: the inputs of tally[c, g] cases in each of which c
    of the K-1 non-query positions hold any of g tokens (the other positions are fixed). For each g that occurs,
    C(K-1, c) g^c = C(K-1, c-1) g^(c-1) * g (K-c) / c (an exact division) for c = 1 .. K-1: O(K) operations on
    integers below (2g)^K per g, none of them a power or a binomial from scratch."""
    total = 0
    for g in range(1, tally.shape[1]):
        if not tally[1:, g].any():
            continue
        term = 1  # C(K-1, 0) g^0
        for c in range(1, K):
            term = term * g * (K - c) // c
            total += int(tally[c, g]) * term
    return total


def table_bits(cfg: ModelConfig, params: dict[str, np.ndarray]) -> int:
    """An upper bound on the bit length of every integer of the tables that `build_tables` forms from these
    weights (for the memory and work estimates; it decides refusals only). It follows build_tables with, for each
    matrix, an exponent range (lo, hi): every entry is an integer multiple of 2^lo of magnitude below 2^hi."""

    def span(name):
        values = np.asarray(params[name], dtype=np.float64)
        values = values[values != 0]
        if values.size == 0:
            return None
        exps = np.frexp(values)[1]  # |x| < 2^e, and a float32 x is a multiple of 2^(e - 24)
        return int(exps.min()) - 24, int(exps.max())

    def add(a, b):
        return a if b is None else b if a is None else (min(a[0], b[0]), max(a[1], b[1]) + 1)

    def mul(a, b, inner: int):
        return None if a is None or b is None else (a[0] + b[0], a[1] + b[1] + (inner - 1).bit_length())

    def aligned(*spans):  # matrices sharing one exponent: the lowest
        lo = min((s[0] for s in spans if s is not None), default=0)
        return [None if s is None else (lo, s[1]) for s in spans]

    attn, m, h = "blocks.0.attn.", cfg.d_model, cfg.d_head
    W_E, W_pos, W_U = span("embed.W_E"), span("pos_embed.W_pos"), span("unembed.W_U")
    x_query = add(W_E, W_pos)
    query = add(mul(x_query, span(attn + "W_Q"), m), span(attn + "b_Q"))
    key_tok, key_pos = aligned(mul(W_E, span(attn + "W_K"), m), add(mul(W_pos, span(attn + "W_K"), m),
                                                                      span(attn + "b_K")))
    ou = mul(span(attn + "W_O"), W_U, m)  # [d_head, d_model] @ [d_model, d_vocab]
    evou = mul(mul(W_E, span(attn + "W_V"), m), ou, h)
    pvou = mul(add(mul(W_pos, span(attn + "W_V"), m), span(attn + "b_V")), ou, h)
    eupu = add(mul(add(x_query, span(attn + "b_O")), W_U, m), span("unembed.b_U"))
    tables = [query, key_tok, key_pos, mul(query, key_tok, h), mul(query, key_pos, h), *aligned(evou, pvou, eupu)]
    return max([1] + [hi - lo + 1 for lo, hi in filter(None, tables)])
