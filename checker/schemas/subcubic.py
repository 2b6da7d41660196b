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

from checker.exact import INF, dyadic_interval, mul_upper, sum_upper, up
from checker.maxofk import MaxOfKTables, table_ops
from checker.schemas import Rejected, SchemaResult
from checker.schemas.cubic import exp_bounds

DIRECT_PATH = ("mean-residual",)
NEAR_MAX = ("drop", "refine")


class SubcubicBounds:
    """Precomputed O(d_vocab^2 n_ctx) quantities; `case_bounds(gaps)` gives F-bar for every (q, m, c)."""

    def __init__(self, t: MaxOfKTables):
        V, K = t.config.d_vocab, t.config.n_ctx
        self.V, self.K = V, K
        self.evou_lo, self.evou_hi = dyadic_interval(t.evou)
        pvou_lo, pvou_hi = dyadic_interval(t.pvou)
        self.eupu_lo, self.eupu_hi = dyadic_interval(t.eupu)
        self.e_lo, self.e_hi, self.a_lo, self.a_hi = exp_bounds(t)
        with np.errstate(invalid="ignore", over="ignore"):
            # direct path: EUPU[q, j] = mu[j] + r[q, j] for the float row mu (any mu makes this an identity)
            mu = np.mean((self.eupu_lo + self.eupu_hi) / 2, axis=0)
            r_hi = up(self.eupu_hi - mu[None, :])
            r_lo = -up(mu[None, :] - self.eupu_lo)  # lower bound of eupu - mu
            ms = np.arange(V)
            # pos_all[m, j] >= max_{i < K} (PVOU[i, j] - PVOU[i, m]); pos_nq: the same over i < K-1
            pos = up(pvou_hi[:, None, :] - pvou_lo[:, :, None])  # [i, m, j]
            pos_all = np.max(pos, axis=0)
            self.pos_nq = np.max(pos[: K - 1], axis=0) if K > 1 else np.full((V, V), -INF)
            # D[m] >= max_{j != m} (mu[j] - mu[m] + pos_all[m, j])
            d = up(up(mu[None, :] - mu[:, None]) + pos_all)
            d[ms, ms] = -INF
            self.d = np.max(d, axis=1)  # [m]
            # Y[q, m] >= max_j r[q, j] - r[q, m]
            self.y = up(np.max(r_hi, axis=1)[:, None] - r_lo)  # [q, m]
            # X[t, m] >= max_{j != m} EVOU[t, j] - EVOU[t, m]   (top-2 per row gives the max over j != m)
            top2 = np.sort(self.evou_hi, axis=1)[:, -2:] if V > 1 else np.full((V, 2), -INF)
            best_other = np.where(np.argmax(self.evou_hi, axis=1)[:, None] == ms[None, :], top2[:, 0:1], top2[:, 1:2])
            self.x = up(best_other - self.evou_lo)  # [t, m]
            # prefix extremes over tokens k <= kappa
            self.x_prefix = np.maximum.accumulate(self.x, axis=0)  # [kappa, m]
            self.e_prefix_hi = np.maximum.accumulate(self.e_hi, axis=1)  # [q, kappa]
            self.e_prefix_lo = np.minimum.accumulate(self.e_lo, axis=1)  # [q, kappa]
        self.ops = V * V * (3 * K + 12)

    def _common(self, q, m):
        """Per (q, m): the max-token terms A_i [.., i], the query term C, and the base D + Y."""
        K = self.K
        base = up(self.d[m] + self.y[q, m])
        w_m = up(base + self.x[m, m])
        w_q = up(base + self.x[q, m])
        p_m = mul_upper(self.e_lo[q, m], self.e_hi[q, m], w_m)
        c_term = mul_upper(self.a_lo[q, K - 1], self.a_hi[q, K - 1], mul_upper(self.e_lo[q, q], self.e_hi[q, q], w_q))
        a_term = mul_upper(self.a_lo[q, : K - 1], self.a_hi[q, : K - 1], p_m[..., None])
        return base, a_term, c_term

    def _placement_bound(self, q, a_term, c_term, p, c: int):
        """F-bar: every non-max non-query token has E W <= p; the K-1-c largest A - B slots hold the max."""
        K = self.K
        b_term = mul_upper(self.a_lo[q, : K - 1], self.a_hi[q, : K - 1], p[..., None])  # [.., i]
        delta = -np.sort(-up(a_term - b_term), axis=-1)
        total = sum_upper(b_term)
        for r in range(K - 1 - c):
            total = up(total + delta[..., r])
        return up(total + c_term)

    def prefix_bound(self, q, m, c: int, kappa):
        """Upper bound P >= E[q, k] W(k) for every token k <= kappa (kappa >= 0)."""
        base = up(self.d[m] + self.y[q, m])
        w_k = up(base + self.x_prefix[kappa, m])
        return mul_upper(self.e_prefix_lo[q, kappa], self.e_prefix_hi[q, kappa], w_k)

    def case_bounds(self, gaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """F-bar[q, m, c] for the tokens <= m - gap, and the prefix bound P[q, m, c]."""
        V, K = self.V, self.K
        q, m = np.meshgrid(np.arange(V), np.arange(V), indexing="ij")
        out = np.full((V, V, K), INF)
        p_pre = np.full((V, V, K), -INF)
        with np.errstate(invalid="ignore", over="ignore"):
            _, a_term, c_term = self._common(q, m)
            out[:, :, 0] = up(sum_upper(a_term) + c_term)
            for c in range(1, K):
                p = self.prefix_bound(q, m, c, np.clip(m - gaps[:, :, c], 0, V - 1))
                p_pre[:, :, c] = p
                out[:, :, c] = self._placement_bound(q, a_term, c_term, p, c)
        return out, p_pre

    def refine(self, cases: np.ndarray, p_pre: np.ndarray) -> tuple[np.ndarray, int]:
        """For each row (q, m, c, k) of `cases`: is token k certified individually, with the cubic's joint bound
        W(k) <= max_{j != m} [EUPU[q,j] - EUPU[q,m] + EVOU[k,j] - EVOU[k,m] + pos_nq[m,j]], at worst token
        bound max(P_prefix, E[q,k] W(k))? Returns a boolean per row and the operation count."""
        V, K = self.V, self.K
        ok = np.zeros(len(cases), dtype=bool)
        chunk = max(1, (1 << 22) // max(V, 1))
        with np.errstate(invalid="ignore", over="ignore"):
            for s in range(0, len(cases), chunk):
                q, m, c, k = cases[s: s + chunk].T
                direct = up(self.eupu_hi[q, :] - self.eupu_lo[q, m][:, None])
                ov = up(self.evou_hi[k, :] - self.evou_lo[k, m][:, None])
                w = up(up(direct + ov) + self.pos_nq[m, :])
                w[np.arange(len(q)), m] = -INF
                w = np.max(w, axis=1)
                p = np.maximum(p_pre[q, m, c], mul_upper(self.e_lo[q, k], self.e_hi[q, k], w))
                _, a_term, c_term = self._common(q, m)
                f = np.full(len(q), INF)
                for cc in range(1, K):  # the placement bound depends on c through the number of max slots
                    sel = c == cc
                    if sel.any():
                        f[sel] = self._placement_bound(q[sel], a_term[sel], c_term[sel], p[sel], cc)
                ok[s: s + chunk] = np.isfinite(f) & (f < 0)
        return ok, len(cases) * (4 * V + 3 * K * K)


def certified_count(bounds: SubcubicBounds, gaps: np.ndarray, near_max: str = "drop", collect: bool = False) -> dict:
    """Inputs covered by the claimed cases, the mask of claimed cases whose prefix bound fails, and costs.

    near_max "drop": a claimed class (q, m, c) covers the inputs whose non-max non-query tokens are <= m - g.
    near_max "refine": it also covers tokens in (m - g, m) that are certified one by one (see `refine`).
    With collect=True, `cases` maps each certified class (q, m, c) to its set of certified tokens.
    """
    V, K = bounds.V, bounds.K
    f, p_pre = bounds.case_bounds(gaps)
    q, m = np.meshgrid(np.arange(V), np.arange(V), indexing="ij")
    ok = np.isfinite(f) & (f < 0)
    claimed = gaps > 0
    valid = claimed & ok & (q <= m)[:, :, None]
    valid[:, :, K - 1] &= q == m  # with c = K-1 no non-query position holds m, so the query must
    tokens = np.zeros((V, V, K), dtype=np.int64)  # certified tokens per class (c >= 1)
    for c in range(1, K):
        tokens[:, :, c] = np.maximum(m - gaps[:, :, c] + 1, 0)
    ops = 0
    refined: dict[tuple[int, int, int], set[int]] = {}
    if near_max == "refine":
        qi, mi, ci = np.nonzero(valid)
        first = mi - gaps[qi, mi, ci] + 1  # refined tokens: first .. m-1 (none when the gap is 1 or c = 0)
        n = np.where(ci > 0, mi - first, 0)
        idx = np.repeat(np.arange(len(qi)), n)
        k = first[idx] + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
        rows = np.stack([qi[idx], mi[idx], ci[idx], k], axis=1).astype(np.int64)
        if len(rows):
            good, ops = bounds.refine(rows, p_pre)
            np.add.at(tokens, (rows[good, 0], rows[good, 1], rows[good, 2]), 1)
            if collect:
                for a, b, c, k in rows[good].tolist():
                    refined.setdefault((a, b, c), set()).add(k)
    total = 0
    cases = {}
    for qi, mi, c in zip(*np.nonzero(valid)):
        total += 1 if c == 0 else comb(K - 1, int(c)) * int(tokens[qi, mi, c]) ** int(c)
        if collect:
            key = (int(qi), int(mi), int(c))
            cases[key] = set() if c == 0 else set(range(int(mi - gaps[qi, mi, c]) + 1)) | refined.get(key, set())
    out = {"count": total, "failing": claimed & ~ok, "ops": ops}
    if collect:
        out["cases"] = cases
    return out


def parse_gaps(witness_gaps, V: int, K: int) -> np.ndarray:
    """The gaps matrix from the witness, checked for shape and range (raises Rejected)."""
    if not isinstance(witness_gaps, list) or len(witness_gaps) != V * V:
        raise Rejected(f"witness gaps must be a matrix with d_vocab^2 = {V * V} rows")
    if any(not isinstance(row, list) or len(row) != K or any(not isinstance(g, int) for g in row)
           for row in witness_gaps):
        raise Rejected(f"every row of witness gaps must hold n_ctx = {K} integers")
    if any(not 0 <= g <= V for row in witness_gaps for g in row):  # before the int64 conversion
        raise Rejected("witness gaps out of range (c = 0: 0 or 1; c >= 1: 0 or 1..m)")
    gaps = np.array(witness_gaps, dtype=np.int64).reshape(V, V, K)
    m = np.arange(V)[None, :, None]
    if np.any(gaps < 0) or np.any(gaps[:, :, 0] > 1) or np.any(gaps[:, :, 1:] > m):
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
    near_max = w.pop("near_max", None)
    if near_max not in NEAR_MAX:
        raise Rejected(f"witness near_max must be one of {NEAR_MAX}, got {near_max!r}")
    cfg = tables.config
    V, K = cfg.d_vocab, cfg.n_ctx
    gaps = parse_gaps(w.pop("gaps", None), V, K)
    if w:
        raise Rejected(f"unknown witness entries for subcubic: {sorted(w)}")
    bounds = SubcubicBounds(tables)
    result = certified_count(bounds, gaps, near_max)
    count, failing = result["count"], result["failing"]
    if failing.any():
        q, m, c = (int(x) for x in np.argwhere(failing)[0])
        raise Rejected(f"witness case q={q}, m={m}, c={c}, gap={int(gaps[q, m, c])} is not certified: its bound "
                       f"is not < 0 ({int(failing.sum())} claimed cases fail)")
    return SchemaResult(
        bound=Fraction(count, V ** K),
        proof_length=table_ops(cfg) + bounds.ops + V * V * K * K * (8 + int(np.log2(K) + 1)) + result["ops"],
        complexity="d_vocab^2 (d_model + n_ctx^2 log n_ctx)" + (" + refined tokens * d_vocab" if near_max == "refine"
                                                                 else ""),
        unexplained_dimension=3 * V * V + V + V * K,  # EQKE, EVOU, EUPU entries; D per max; EQKP
        details={"claimed_cases": int((gaps > 0).sum()), "near_max": near_max},
    )
