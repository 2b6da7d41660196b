"""subcubic v1: cases (query q, max m, copies c) with a per-case gap g from the witness.

Soundness note: docs/proofs/subcubic.md. The class (q, m, c) is certified for every input whose
non-max non-query tokens all lie in [0, m - g]. The direct path is split into a mean row plus a
per-query residual, the OV path is pessimised per token (X[t, m] = max_{j != m} EVOU[t, j] - EVOU[t, m]),
and the worst non-max token is bounded by prefix maxima over k <= m - g, so each case costs O(K log K)
after O(d_vocab^2 (d_model + n_ctx)) tables: no d_vocab^3 step.

Witness: `direct_path "mean-residual"`; `gaps`: a d_vocab^2 x n_ctx matrix, row q*d_vocab + m, column c:
0 = the case is not claimed; for c = 0, 1 = claimed; for c >= 1, g in 1..m = tokens <= m - g claimed.
All arithmetic is rigorous float64 with outward rounding, as in the cubic schema.
"""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np

from checker.exact import INF, dyadic_interval, mul_upper, up
from checker.maxofk import MaxOfKTables, table_ops
from checker.schemas import Rejected, SchemaResult
from checker.schemas.cubic import exp_bounds

DIRECT_PATH = ("mean-residual",)


class SubcubicBounds:
    """Precomputed O(d_vocab^2) quantities; `case_bounds(gaps)` gives F-bar for every (q, m, c)."""

    def __init__(self, t: MaxOfKTables):
        V, K = t.config.d_vocab, t.config.n_ctx
        self.V, self.K = V, K
        evou_lo, evou_hi = dyadic_interval(t.evou)
        pvou_lo, pvou_hi = dyadic_interval(t.pvou)
        eupu_lo, eupu_hi = dyadic_interval(t.eupu)
        self.e_lo, self.e_hi, self.a_lo, self.a_hi = exp_bounds(t)
        with np.errstate(invalid="ignore", over="ignore"):
            # direct path: EUPU[q, j] = mu[j] + r[q, j] for the float row mu (any mu makes this an identity)
            mu = np.mean((eupu_lo + eupu_hi) / 2, axis=0)
            r_hi = up(eupu_hi - mu[None, :])
            r_lo = -up(mu[None, :] - eupu_lo)  # lower bound of eupu - mu
            ms = np.arange(V)
            # D[m] >= max_{j != m} (mu[j] - mu[m] + max_i (PVOU[i, j] - PVOU[i, m]))
            pos = np.max(up(pvou_hi[:, None, :] - pvou_lo[:, :, None]), axis=0)  # [m, j]
            d = up(up(mu[None, :] - mu[:, None]) + pos)
            d[ms, ms] = -INF
            self.d = np.max(d, axis=1)  # [m]
            # Y[q, m] >= max_j r[q, j] - r[q, m]
            self.y = up(np.max(r_hi, axis=1)[:, None] - r_lo)  # [q, m]
            # X[t, m] >= max_{j != m} EVOU[t, j] - EVOU[t, m]   (top-2 per row gives the max over j != m)
            top2 = np.sort(evou_hi, axis=1)[:, -2:] if V > 1 else np.full((V, 2), -INF)
            best_other = np.where(np.argmax(evou_hi, axis=1)[:, None] == ms[None, :], top2[:, 0:1], top2[:, 1:2])
            self.x = up(best_other - evou_lo)  # [t, m]
            # prefix maxima over tokens k <= kappa
            self.x_prefix = np.maximum.accumulate(self.x, axis=0)  # [kappa, m]
            self.e_prefix = np.maximum.accumulate(self.e_hi, axis=1)  # [q, kappa]
        self.ops = V * V * (K + 4) + V * V * 4

    def case_bounds(self, gaps: np.ndarray) -> np.ndarray:
        """F-bar[q, m, c] (upper bound of the worst softmax-weighted wrong-minus-right sum), inf if not valid."""
        V, K = self.V, self.K
        q, m = np.meshgrid(np.arange(V), np.arange(V), indexing="ij")
        with np.errstate(invalid="ignore", over="ignore"):
            base = up(self.d[None, :] + self.y)  # [q, m]
            w_m = up(base + self.x[m, m])
            w_q = up(base + self.x[q, m])
            p_m = mul_upper(self.e_lo[q, m], self.e_hi[q, m], w_m)
            c_term = mul_upper(self.a_lo[q, K - 1], self.a_hi[q, K - 1],
                               mul_upper(self.e_lo[q, q], self.e_hi[q, q], w_q))
            al, ah = self.a_lo[:, None, : K - 1], self.a_hi[:, None, : K - 1]  # [q, 1, i]
            a_term = mul_upper(al, ah, p_m[:, :, None])  # [q, m, i]
            out = np.full((V, V, K), INF)
            out[:, :, 0] = up(_sum_up(a_term) + c_term)
            for c in range(1, K):
                g = gaps[:, :, c]
                kappa = np.clip(m - g, 0, V - 1)
                w_k = up(base + self.x_prefix[kappa, m])
                p_k = up(self.e_prefix[q, kappa] * np.maximum(w_k, 0.0))  # >= E[q, k] W(k) for all k <= kappa
                b_term = up(ah * p_k[:, :, None])  # [q, m, i]
                delta = -np.sort(-up(a_term - b_term), axis=2)
                total = _sum_up(b_term)
                for r in range(K - 1 - c):  # the K-1-c largest deltas hold the max token
                    total = up(total + delta[:, :, r])
                out[:, :, c] = up(total + c_term)
        return out


def _sum_up(x: np.ndarray) -> np.ndarray:
    total = np.zeros(x.shape[:-1])
    for i in range(x.shape[-1]):
        total = up(total + x[..., i])
    return total


def certified_count(bounds: SubcubicBounds, gaps: np.ndarray) -> tuple[int, np.ndarray]:
    """Inputs covered by the claimed cases whose bound is < 0, and the mask of failing claimed cases."""
    V, K = bounds.V, bounds.K
    f = bounds.case_bounds(gaps)
    ok = np.isfinite(f) & (f < 0)
    q, m = np.meshgrid(np.arange(V), np.arange(V), indexing="ij")
    total = 0
    for c in range(K):
        claimed = gaps[:, :, c] > 0
        valid = claimed & (q <= m) & ((q == m) | (c <= K - 2))
        for qi, mi in zip(*np.nonzero(valid & ok[:, :, c])):
            total += 1 if c == 0 else comb(K - 1, c) * (int(mi) - int(gaps[qi, mi, c]) + 1) ** c
    failing = (gaps > 0) & ~ok
    return total, failing


def parse_gaps(witness_gaps, V: int, K: int) -> np.ndarray:
    """The gaps matrix from the witness, checked for shape and range (raises Rejected)."""
    if not isinstance(witness_gaps, list) or len(witness_gaps) != V * V:
        raise Rejected(f"witness gaps must be a matrix with d_vocab^2 = {V * V} rows")
    if any(not isinstance(row, list) or len(row) != K or any(not isinstance(g, int) for g in row)
           for row in witness_gaps):
        raise Rejected(f"every row of witness gaps must hold n_ctx = {K} integers")
    gaps = np.array(witness_gaps, dtype=np.int64).reshape(V, V, K)
    m = np.arange(V)[None, :, None]
    if np.any(gaps < 0) or np.any(gaps[:, :, 0] > 1) or np.any((gaps[:, :, 1:] > m) & (gaps[:, :, 1:] > 0)):
        raise Rejected("witness gaps out of range (c = 0: 0 or 1; c >= 1: 0 or 1..m)")
    q = np.arange(V)[:, None]
    if np.any((gaps > 0) & (q > np.arange(V)[None, :])[:, :, None]):
        raise Rejected("witness claims a case with query > max")
    return gaps


def check(cert, tables: MaxOfKTables, progress=None) -> SchemaResult:
    """Subcubic: accuracy >= (inputs covered by the witness's certified (q, m, c, gap) cases) / d_vocab^K."""
    w = dict(cert.witness)
    direct_path = w.pop("direct_path", None)
    if direct_path not in DIRECT_PATH:
        raise Rejected(f"witness direct_path must be one of {DIRECT_PATH}, got {direct_path!r}")
    cfg = tables.config
    V, K = cfg.d_vocab, cfg.n_ctx
    gaps = parse_gaps(w.pop("gaps", None), V, K)
    if w:
        raise Rejected(f"unknown witness entries for subcubic: {sorted(w)}")
    bounds = SubcubicBounds(tables)
    count, failing = certified_count(bounds, gaps)
    if failing.any():
        q, m, c = (int(x) for x in np.argwhere(failing)[0])
        raise Rejected(f"witness case q={q}, m={m}, c={c}, gap={int(gaps[q, m, c])} is not certified: its bound "
                       f"is not < 0 ({int(failing.sum())} claimed cases fail)")
    return SchemaResult(
        bound=Fraction(count, V ** K),
        proof_length=table_ops(cfg) + bounds.ops + V * V * K * K * (8 + int(np.log2(K) + 1)),
        complexity="d_vocab^2 (d_model + n_ctx^2 log n_ctx)",
        unexplained_dimension=V * V + V * K,
        details={"claimed_cases": int((gaps > 0).sum())},
    )
