"""Independent reference implementations for the tests (not used by the checker or the generator).

- `forward_float64`: DESIGN.md's formula in plain numpy float64.
- `exhaustive_accuracy`: the exact number of correct inputs, computed from the raw weights with
  Python Fractions and mpmath interval arithmetic at rising precision. A difference of logits is
  sum_G exp(s_G) c_G over groups G of positions with equal score s_G; when every c_G is zero the
  margin is exactly zero (a tie, wrong); otherwise it is nonzero (Lindemann-Weierstrass: exp of
  distinct algebraic numbers are linearly independent over the algebraic numbers), so raising the
  precision eventually decides its sign.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

from mpmath import iv
import numpy as np


def forward_float64(params: dict[str, np.ndarray], tokens: np.ndarray) -> np.ndarray:
    """Logits at the last position, float64, straight from DESIGN.md."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    d_head = p["blocks.0.attn.W_Q"].shape[2]
    out = []
    for t in tokens:
        x = p["embed.W_E"][t] + p["pos_embed.W_pos"]
        q = x[-1] @ p["blocks.0.attn.W_Q"][0] + p["blocks.0.attn.b_Q"][0]
        k = x @ p["blocks.0.attn.W_K"][0] + p["blocks.0.attn.b_K"][0]
        v = x @ p["blocks.0.attn.W_V"][0] + p["blocks.0.attn.b_V"][0]
        s = k @ q / np.sqrt(d_head)
        a = np.exp(s - s.max())
        a /= a.sum()
        r = x[-1] + (a @ v) @ p["blocks.0.attn.W_O"][0] + p["blocks.0.attn.b_O"]
        out.append(r @ p["unembed.W_U"] + p["unembed.b_U"])
    return np.array(out)


def _frac(arr) -> list:
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 1:
        return [Fraction(float(x)) for x in arr]
    return [_frac(row) for row in arr]


def _vecmat(v: list, m: list) -> list:
    return [sum((v[r] * m[r][c] for r in range(len(v))), Fraction(0)) for c in range(len(m[0]))]


def _add(a: list, b: list) -> list:
    return [x + y for x, y in zip(a, b)]


def exhaustive_accuracy(params: dict[str, np.ndarray]) -> Fraction:
    """Exact accuracy over all d_vocab^K inputs (a tie counts as wrong)."""
    W_E, W_pos = _frac(params["embed.W_E"]), _frac(params["pos_embed.W_pos"])
    W_Q, W_K = _frac(params["blocks.0.attn.W_Q"][0]), _frac(params["blocks.0.attn.W_K"][0])
    W_V, W_O = _frac(params["blocks.0.attn.W_V"][0]), _frac(params["blocks.0.attn.W_O"][0])
    b_Q, b_K = _frac(params["blocks.0.attn.b_Q"][0]), _frac(params["blocks.0.attn.b_K"][0])
    b_V, b_O = _frac(params["blocks.0.attn.b_V"][0]), _frac(params["blocks.0.attn.b_O"])
    W_U, b_U = _frac(params["unembed.W_U"]), _frac(params["unembed.b_U"])
    V, K, d_head = len(W_E), len(W_pos), len(b_Q)
    x = {(t, i): _add(W_E[t], W_pos[i]) for t in range(V) for i in range(K)}
    key = {ti: _add(_vecmat(x[ti], W_K), b_K) for ti in x}
    # value read out through the unembedding: (x W_V + b_V) W_O W_U
    out = {ti: _vecmat(_vecmat(_add(_vecmat(x[ti], W_V), b_V), W_O), W_U) for ti in x}
    query = {q: _add(_vecmat(x[(q, K - 1)], W_Q), b_Q) for q in range(V)}
    direct = {q: _add(_vecmat(_add(x[(q, K - 1)], b_O), W_U), b_U) for q in range(V)}
    correct = 0
    for t in itertools.product(range(V), repeat=K):
        q, m = t[-1], max(t)
        groups: dict[Fraction, list[int]] = {}
        for i in range(K):
            s = sum((a * b for a, b in zip(query[q], key[(t[i], i)])), Fraction(0))
            groups.setdefault(s, []).append(i)
        ok = True
        for j in range(V):
            if j == m:
                continue
            # logit[m] - logit[j] times sum(exp) = sum_G exp(s_G/sqrt(d)) * sum_{i in G} (row_i[m] - row_i[j])
            coeff = {s: sum((out[(t[i], i)][m] - out[(t[i], i)][j] + direct[q][m] - direct[q][j]) for i in idx)
                     for s, idx in groups.items()}
            coeff = {s: c for s, c in coeff.items() if c != 0}
            if not coeff:
                ok = False
                break
            if _sign(coeff, d_head) < 0:
                ok = False
                break
        correct += ok
    return Fraction(correct, V ** K)


def _sign(coeff: dict[Fraction, Fraction], d_head: int) -> int:
    """The sign of sum_s exp((s - top) / sqrt(d_head)) c_s, decided rigorously: each exponent difference is
    formed exactly as a Fraction before anything is rounded, and the sum is an mpmath interval (outward
    rounding) at rising precision; a sign counts only when the whole interval is on one side of zero."""
    top = max(coeff)
    for dps in (30, 60, 120, 240, 480, 960, 2000):
        iv.dps = dps
        scale = 1 / iv.sqrt(iv.mpf(d_head))
        total = iv.mpf(0)
        for s, c in coeff.items():
            d = s - top  # exact
            weight = iv.exp(iv.mpf(d.numerator) / iv.mpf(d.denominator) * scale) if d else iv.mpf(1)
            total += weight * (iv.mpf(c.numerator) / iv.mpf(c.denominator))
        if total.a > 0:
            return 1
        if total.b < 0:
            return -1
    raise AssertionError("reference could not decide a sign; make the test model less degenerate")
