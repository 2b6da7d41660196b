"""subcubic v2: cases (query q, max m, copies c) with a per-case gap g from the witness.

Soundness note: docs/proofs/subcubic.md. The class (q, m, c) is certified for every input whose
non-max non-query tokens all lie in [0, m - g]. The direct path is split into a row mu plus a
per-query residual, the OV path is pessimised per token (X[t, m] = max_{j != m} EVOU[t, j] - EVOU[t, m]),
and the worst non-max token is bounded by prefix maxima over k <= m - g, so each claimed (q, m, gap) group
costs O(K log K) after O(d_vocab^2 (d_model + n_ctx)) tables: no d_vocab^3 step.

Witness (every option a named entry; the paper's three axes are direct_path, attention, attention_error):
- `direct_path`: "mean-residual" (mu = the column means of EUPU) or "query-max" (mu = 0);
- `attention`: "exact" (EQKE formed exactly) or "low-rank" (EQKE = rank-r part + residual bounded by
  Cauchy-Schwarz, never formed; then `attention_error` "entrywise" or "global" and the factors
  `query_factor` [V, r], `query_basis` [r, d_head], `key_factor` [V, r], `key_basis` [r, d_head],
  float32 values written as exact fractions);
- `near_max`: "drop" (the paper's) or "refine" (gap-zone tokens certified one by one; with it, optionally
  `top_outputs` = r, 0 <= r <= d_vocab - 2, default 0: each refined token's r worst wrong outputs are checked
  one by one against the max token's and the query's terms at that output, the others together);
- `gaps`: a d_vocab^2 x n_ctx matrix, row q*d_vocab + m, column c: 0 = the case is not claimed;
  for c = 0, 1 = claimed; for c >= 1, g in 1..m = tokens <= m - g claimed.
All arithmetic is rigorous float64 with outward rounding, as in the cubic schema.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import chain

import flint
import numpy as np

from checker.budget import ARB_OP_WORK, FLOAT_ENTRY_BYTES, PY_STEP_WORK, table_estimate
from checker.exact import INF, Dyadic, dyadic_interval, mul_upper, sum_upper, up
from checker.maxofk import MaxOfKTables, inputs_of_cases, table_ops
from checker.model import ModelConfig
from checker.schemas import Rejected, SchemaResult
from checker.schemas.cubic import score_exp_bounds, top_outputs_of

DIRECT_PATH = ("mean-residual", "query-max")
ATTENTION = ("exact", "low-rank")
ATTENTION_ERROR = ("entrywise", "global")
NEAR_MAX = ("drop", "refine")
FACTORS = ("query_factor", "query_basis", "key_factor", "key_basis")  # U [V, r], X [r, h], W [V, r], Y [r, h]


class LowRankScores:
    """EQKE = A B^T (A = `query`, B = `key_tok`) as a rank-r part plus a residual bounded without forming it.

    With A_res = A - U X and B_res = B - W Y (U, X, W, Y the witness's exact factors),
        EQKE = U (X B^T) + (A_res Y^T) W^T + A_res B_res^T   (an identity),
    and |(A_res B_res^T)[q, k]| <= |A_res[q]| |B_res[k]| (Cauchy-Schwarz): `center` is the exact sum of the
    first two terms, `radius(q, k)` an arb enclosing the bound ("entrywise"), or its maximum over all
    (q, k) ("global"). Cost O(d_vocab d_head r + d_vocab^2 r): EQKE's d_vocab^2 d_head products are never formed.
    """

    def __init__(self, t: MaxOfKTables, factors: dict[str, Dyadic], attention_error: str):
        u, x, w, y = (factors[name] for name in FACTORS)
        a_res = t.query - u @ x
        b_res = t.key_tok - w @ y
        self.center = u @ (x @ t.key_tok.transpose()) + (a_res @ y.transpose()) @ w.transpose()
        norm_a = [_norm(row, a_res.exp) for row in a_res.ints()]
        norm_b = [_norm(row, b_res.exp) for row in b_res.ints()]
        if attention_error == "global":
            worst = max(norm_a, key=lambda n: n.upper()) * max(norm_b, key=lambda n: n.upper())
            self.radius = lambda q, k: worst
        else:
            self.radius = lambda q, k: norm_a[q] * norm_b[k]
        V, h = t.query.shape
        r = u.shape[1]
        self.rank = r
        # multiply-adds of U X, W Y, X B^T, A_res Y^T (V h r each) and of the two V x V x r products; the
        # subtractions A - U X, B - W Y; sums of squares (2 V h); V^2 additions for center; radius products and
        # square roots; the second exponential enclosure per entry (score_exp_bounds, V^2)
        self.ops = 2 * (4 * V * h * r + 2 * V * V * r) + 2 * V * h + 4 * V * h + V * V + (V * V + 2 * V) + V * V


def _norm(row: list[int], exp: int) -> flint.arb:
    """An arb enclosing the Euclidean norm of the vector row * 2^exp."""
    return flint.arb(sum(v * v for v in row)).sqrt() * flint.arb(2) ** exp


def parse_factors(witness: dict, V: int, h: int) -> dict[str, Dyadic]:
    """The four low-rank factors from the witness, exact, checked for shape (raises Rejected)."""
    missing = [name for name in FACTORS if name not in witness]
    if missing:
        raise Rejected(f"witness lacks {', '.join(missing)} (needed with attention \"low-rank\")")
    values = {name: witness.pop(name) for name in FACTORS}
    q_factor = values["query_factor"]
    rank = len(q_factor[0]) if isinstance(q_factor, list) and q_factor and isinstance(q_factor[0], list) else 0
    if not 1 <= rank <= h:
        raise Rejected(f"witness query_factor must be a d_vocab x r matrix with 1 <= r <= d_head = {h}")
    shapes = {"query_factor": (V, rank), "query_basis": (rank, h), "key_factor": (V, rank), "key_basis": (rank, h)}
    return {name: _float32_matrix(name, values[name], *shapes[name]) for name in FACTORS}


def _is_float32(v) -> bool:
    """v (an int or a Fraction) is exactly a finite float32 value."""
    if isinstance(v, bool) or not isinstance(v, (int, Fraction)):
        return False
    try:
        with np.errstate(over="ignore"):
            return Fraction(float(np.float32(float(v)))) == v  # float(v) is exact when v is a float32 value
    except (OverflowError, ValueError):  # beyond float64 range, or inf after the float32 cast
        return False


def _float32_matrix(name: str, value, rows: int, cols: int) -> Dyadic:
    """A witness matrix of float32 values (written as integers or fractions), as an exact Dyadic. Limiting the
    entries to float32 (what the generator writes) bounds the size of every exact product formed from them."""
    if (not isinstance(value, list) or len(value) != rows
            or any(not isinstance(row, list) or len(row) != cols for row in value)):
        raise Rejected(f"witness {name} must be a {rows} x {cols} matrix")
    entries = [v for row in value for v in row]
    if not all(_is_float32(v) for v in entries):
        raise Rejected(f"witness {name} must hold float32 values, written as integers or fractions num/2^k")
    return Dyadic.from_float32(np.array([float(v) for v in entries], dtype=np.float32).reshape(rows, cols))


class SubcubicBounds:
    """Precomputed O(d_vocab^2 n_ctx) quantities; `case_bounds(gaps)` gives F-bar for every claimed (q, m, c).

    direct_path: the row mu of the split EUPU[q, j] = mu[j] + r[q, j] ("mean-residual": the column means,
    "query-max": mu = 0). scores: None (exact EQKE) or the LowRankScores enclosure of EQKE."""

    def __init__(self, t: MaxOfKTables, direct_path: str = "mean-residual", scores: LowRankScores | None = None):
        V, K = t.config.d_vocab, t.config.n_ctx
        self.V, self.K = V, K
        self.scores = scores
        self.evou_lo, self.evou_hi = dyadic_interval(t.evou)
        pvou_lo, pvou_hi = dyadic_interval(t.pvou)
        self.eupu_lo, self.eupu_hi = dyadic_interval(t.eupu)
        if scores is None:
            self.e_lo, self.e_hi = score_exp_bounds(t.eqke, t.config.d_head)
        else:
            self.e_lo, self.e_hi = score_exp_bounds(scores.center, t.config.d_head, scores.radius)
        self.a_lo, self.a_hi = score_exp_bounds(t.eqkp, t.config.d_head)
        with np.errstate(invalid="ignore", over="ignore"):
            # direct path: EUPU[q, j] = mu[j] + r[q, j] for the float row mu (any mu makes this an identity)
            if direct_path == "mean-residual":
                mu = np.mean((self.eupu_lo + self.eupu_hi) / 2, axis=0)
            else:
                mu = np.zeros(V)
            r_hi = up(self.eupu_hi - mu[None, :])
            r_lo = -up(mu[None, :] - self.eupu_lo)  # lower bound of eupu - mu
            ms = np.arange(V)
            # pos_all[m, j] >= max_{i < K} (PVOU[i, j] - PVOU[i, m]); pos_nq: the same over i < K-1
            pos = up(pvou_hi[:, None, :] - pvou_lo[:, :, None])  # [i, m, j]
            pos_all = np.max(pos, axis=0)
            self.pos_q = pos[K - 1]  # [m, j]: the query's position
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

    def _placement_bounds(self, q, a_term, c_term, p):
        """F-bar[.., c] for every c = 1..K-1 at once (column 0 unused): every non-max non-query token has
        E W <= p, and the K-1-c largest A - B slots hold the max. One sort serves every c."""
        K = self.K
        b_term = mul_upper(self.a_lo[q, : K - 1], self.a_hi[q, : K - 1], p[..., None])  # [.., i]
        delta = -np.sort(-up(a_term - b_term), axis=-1)
        f = np.full(np.shape(p) + (K,), INF)
        total = sum_upper(b_term)
        for c in range(K - 1, 0, -1):  # c = K-1: no slot holds the max; each smaller c adds the next largest delta
            f[..., c] = up(total + c_term)
            if c > 1:
                total = up(total + delta[..., K - 1 - c])
        return f

    def prefix_bound(self, q, m, kappa):
        """Upper bound P >= E[q, k] W(k) for every token k <= kappa (kappa >= 0)."""
        base = up(self.d[m] + self.y[q, m])
        w_k = up(base + self.x_prefix[kappa, m])
        return mul_upper(self.e_prefix_lo[q, kappa], self.e_prefix_hi[q, kappa], w_k)

    def case_bounds(self, gaps: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """F-bar[q, m, c] for the tokens <= m - gap and the prefix bound P[q, m, c], for the claimed cases only
        (gap > 0; F-bar = inf and P = -inf elsewhere), and the operation count. The cases of one (q, m) that
        share a gap share P and one placement sort, so the work is per distinct claimed (q, m, gap)."""
        V, K = self.V, self.K
        out = np.full((V, V, K), INF)
        p_pre = np.full((V, V, K), -INF)
        with np.errstate(invalid="ignore", over="ignore"):
            q0, m0 = np.nonzero(gaps[:, :, 0] > 0)
            if len(q0):
                _, a_term, c_term = self._common(q0, m0)
                out[q0, m0, 0] = up(sum_upper(a_term) + c_term)
            qc, mc, cc = np.nonzero(gaps[:, :, 1:] > 0)
            cc = cc + 1
            # distinct (q, m, gap) in lexicographic order, as one int64 key each (V^2 (V + 1) < 2^63: the gaps
            # matrix has V^2 rows, read within the parser's limits)
            groups, inverse = np.unique((qc * V + mc) * (V + 1) + gaps[qc, mc, cc], return_inverse=True)
            inverse = inverse.reshape(-1)
            if len(groups):
                q, m, g = groups // (V + 1) // V, groups // (V + 1) % V, groups % (V + 1)
                _, a_term, c_term = self._common(q, m)
                p = self.prefix_bound(q, m, np.clip(m - g, 0, V - 1))
                out[qc, mc, cc] = self._placement_bounds(q, a_term, c_term, p)[inverse, cc]
                p_pre[qc, mc, cc] = p[inverse]
        ops = len(q0) * (2 * K + 8) + len(groups) * K * (10 + int(np.log2(K) + 1))
        return out, p_pre, ops

    def refine(self, cases: np.ndarray, p_pre: np.ndarray, top_outputs: int = 0) -> tuple[np.ndarray, int]:
        """For each row (q, m, c, k) of `cases`: is token k certified individually? With the cubic's per-output
        bounds w_j(k) = EUPU[q,j] - EUPU[q,m] + EVOU[k,j] - EVOU[k,m] + pos_nq[m,j] (j != m), k is tested at
        token bound max(P_prefix, E[q,k] w) for w = the (top_outputs+1)-th largest w_j(k) (with top_outputs = 0,
        the cubic's joint bound W(k)) against the max token's and the query's bounds for every output, and for
        each of the top_outputs outputs j with the largest w_j(k), at w_j(k) against their bounds at j (the
        smaller of the per-output and the general one). Returns a boolean per row and the operation count."""
        V, K = self.V, self.K
        ok = np.zeros(len(cases), dtype=bool)
        chunk = max(1, (1 << 22) // max(V, 1))
        with np.errstate(invalid="ignore", over="ignore"):
            for s in range(0, len(cases), chunk):
                q, m, c, k = cases[s: s + chunk].T
                rows = np.arange(len(q))
                # the per-output bounds depend on (q, m, k) only, not on c: computed once per distinct triple
                # (index u), the same float operations on the same values as per row
                _, first, inv = np.unique((q * V + m) * V + k, return_index=True, return_inverse=True)
                inv = inv.reshape(-1)
                uq, um, uk = q[first], m[first], k[first]
                urows = np.arange(len(uq))
                direct = up(self.eupu_hi[uq, :] - self.eupu_lo[uq, um][:, None])
                ov = up(self.evou_hi[uk, :] - self.evou_lo[uk, um][:, None])
                w = up(up(direct + ov) + self.pos_nq[um, :])
                w[urows, um] = -INF
                undefined = np.isnan(w).any(axis=1)[inv]  # a NaN output is bounded by no slot: not certified
                candidates, w_rest = top_outputs_of(w, top_outputs)
                p_pre_k = p_pre[q, m, c]
                _, a_term, c_term = self._common(q, m)
                p = np.maximum(p_pre_k, mul_upper(self.e_lo[q, k], self.e_hi[q, k], w_rest[inv]))
                f = self._placement_bounds(q, a_term, c_term, p)[rows, c]
                good = np.isfinite(f) & (f < 0) & ~undefined
                for j in candidates.T:  # output j of each triple: every term at j
                    w_m = up(up(direct[urows, j] + up(self.evou_hi[um, j] - self.evou_lo[um, um])) + self.pos_nq[um, j])
                    w_q = up(up(direct[urows, j] + up(self.evou_hi[uq, j] - self.evou_lo[uq, um])) + self.pos_q[um, j])
                    p_m = mul_upper(self.e_lo[q, m], self.e_hi[q, m], w_m[inv])
                    a_j = np.minimum(a_term, mul_upper(self.a_lo[q, : K - 1], self.a_hi[q, : K - 1], p_m[:, None]))
                    c_j = np.minimum(c_term, mul_upper(self.a_lo[q, K - 1], self.a_hi[q, K - 1],
                                                       mul_upper(self.e_lo[q, q], self.e_hi[q, q], w_q[inv])))
                    p_j = np.maximum(p_pre_k, mul_upper(self.e_lo[q, k], self.e_hi[q, k], w[urows, j][inv]))
                    f = self._placement_bounds(q, a_j, c_j, p_j)[rows, c]
                    good &= np.isfinite(f) & (f < 0)
                ok[s: s + chunk] = good
        log_k = 10 + int(np.log2(K) + 1)
        return ok, len(cases) * (4 * V + K * log_k + top_outputs * (12 + 2 * K + K * log_k))


def certified_count(bounds: SubcubicBounds, gaps: np.ndarray, near_max: str = "drop", collect: bool = False,
                    top_outputs: int = 0) -> dict:
    """Inputs covered by the claimed cases, the mask of claimed cases whose prefix bound fails, and the
    operation count of the case bounds and the refinement.

    near_max "drop": a claimed class (q, m, c) covers the inputs whose non-max non-query tokens are <= m - g.
    near_max "refine": it also covers tokens in (m - g, m) that are certified one by one (see `refine`, which
    checks each refined token's `top_outputs` worst outputs one by one).
    With collect=True, `cases` maps each certified class (q, m, c) to its set of certified tokens.
    """
    V, K = bounds.V, bounds.K
    f, p_pre, ops = bounds.case_bounds(gaps)
    q, m = np.meshgrid(np.arange(V), np.arange(V), indexing="ij")
    ok = np.isfinite(f) & (f < 0)
    claimed = gaps > 0
    valid = claimed & ok & (q <= m)[:, :, None]
    valid[:, :, K - 1] &= q == m  # with c = K-1 no non-query position holds m, so the query must
    tokens = np.zeros((V, V, K), dtype=np.int64)  # certified tokens per class (c >= 1)
    for c in range(1, K):
        tokens[:, :, c] = np.maximum(m - gaps[:, :, c] + 1, 0)
    refined: dict[tuple[int, int, int], set[int]] = {}
    if near_max == "refine":
        qi, mi, ci = np.nonzero(valid)
        first = mi - gaps[qi, mi, ci] + 1  # refined tokens: first .. m-1 (none when the gap is 1 or c = 0)
        n = np.where(ci > 0, mi - first, 0)
        idx = np.repeat(np.arange(len(qi)), n)
        k = first[idx] + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
        rows = np.stack([qi[idx], mi[idx], ci[idx], k], axis=1).astype(np.int64)
        if len(rows):
            good, refine_ops = bounds.refine(rows, p_pre, top_outputs)
            ops += refine_ops
            np.add.at(tokens, (rows[good, 0], rows[good, 1], rows[good, 2]), 1)
            if collect:
                for a, b, c, k in rows[good].tolist():
                    refined.setdefault((a, b, c), set()).add(k)
    # a case (q, m, c) covers C(K-1, c) tokens^c inputs (one for c = 0): tallied by (c, tokens)
    tally = np.zeros((K, V), dtype=np.int64)
    np.add.at(tally, (np.nonzero(valid)[2], tokens[valid]), 1)
    total = int(tally[0].sum()) + inputs_of_cases(K, tally)
    cases = {}
    for qi, mi, c in zip(*np.nonzero(valid)) if collect else ():
        key = (int(qi), int(mi), int(c))
        cases[key] = set() if c == 0 else set(range(int(mi - gaps[qi, mi, c]) + 1)) | refined.get(key, set())
    out = {"count": total, "failing": claimed & ~ok, "ops": ops}
    if collect:
        out["cases"] = cases
    return out


def _gap_rows(witness_gaps, V: int, K: int) -> np.ndarray | None:
    """The gaps as a (V^2, K) int64 array when they are a list of V^2 lists of K Python ints (bool excluded) in
    0..V, else None. Type and range are checked on the Python values before any conversion."""
    if not isinstance(witness_gaps, list) or len(witness_gaps) != V * V:
        return None
    if not all(isinstance(row, list) and len(row) == K for row in witness_gaps):
        return None
    flat = list(chain.from_iterable(witness_gaps))
    if set(map(type, flat)) != {int} or not 0 <= min(flat) <= max(flat) <= V:
        return None
    return np.array(flat, dtype=np.int64).reshape(V * V, K)


def parse_gaps(witness_gaps, V: int, K: int) -> np.ndarray:
    """The gaps matrix from the witness, checked for shape and range (raises Rejected)."""
    rows = _gap_rows(witness_gaps, V, K)
    if rows is None:
        if not isinstance(witness_gaps, list) or len(witness_gaps) != V * V:
            raise Rejected(f"witness gaps must be a matrix with d_vocab^2 = {V * V} rows")
        if any(not isinstance(row, list) or len(row) != K or any(type(g) is not int for g in row)
               for row in witness_gaps):
            raise Rejected(f"every row of witness gaps must hold n_ctx = {K} integers")
        raise Rejected("witness gaps out of range (c = 0: 0 or 1; c >= 1: 0 or 1..m)")
    gaps = rows.reshape(V, V, K)
    m = np.arange(V)[None, :, None]
    if np.any(gaps < 0) or np.any(gaps[:, :, 0] > 1) or np.any(gaps[:, :, 1:] > m):
        raise Rejected("witness gaps out of range (c = 0: 0 or 1; c >= 1: 0 or 1..m)")
    q = np.arange(V)[:, None]
    if np.any((gaps > 0) & (q > np.arange(V)[None, :])[:, :, None]):
        raise Rejected("witness claims a case with query > max")
    return gaps


def parse_witness(witness: dict, tables: MaxOfKTables) -> tuple[dict, np.ndarray, SubcubicBounds]:
    """The witness's options (with the rank for low-rank attention), its gaps, and the bounds it selects."""
    w = dict(witness)
    options = {}
    for name, allowed in (("direct_path", DIRECT_PATH), ("attention", ATTENTION), ("near_max", NEAR_MAX)):
        options[name] = w.pop(name, None)
        if options[name] not in allowed:
            raise Rejected(f"witness {name} must be one of {allowed}, got {options[name]!r}")
    cfg = tables.config
    gaps = parse_gaps(w.pop("gaps", None), cfg.d_vocab, cfg.n_ctx)
    if options["near_max"] == "refine":  # optional (absent: 0, as in certificates written before it existed)
        top = w.pop("top_outputs", 0)
        if type(top) is not int or not 0 <= top <= max(0, cfg.d_vocab - 2):
            raise Rejected(f"witness top_outputs (with near_max refine) must be an integer from 0 to "
                           f"max(0, d_vocab - 2) = {max(0, cfg.d_vocab - 2)}, got {top!r}")
        options["top_outputs"] = top
    scores = None
    if options["attention"] == "low-rank":
        options["attention_error"] = w.pop("attention_error", None)
        if options["attention_error"] not in ATTENTION_ERROR:
            raise Rejected(f"witness attention_error must be one of {ATTENTION_ERROR}, "
                           f"got {options['attention_error']!r}")
        scores = LowRankScores(tables, parse_factors(w, cfg.d_vocab, cfg.d_head), options["attention_error"])
        options["rank"] = scores.rank
    if w:
        raise Rejected(f"unknown witness entries for subcubic with attention {options['attention']!r}: {sorted(w)}")
    return options, gaps, SubcubicBounds(tables, options["direct_path"], scores)


def _claimed_and_refined(gaps, V: int, K: int) -> tuple[int, int]:
    """(claimed cases, refined tokens) of a gaps matrix, or the largest values its shape allows when it is not a
    well-formed matrix of small integers (the check rejects it later)."""
    rows = _gap_rows(gaps, V, K)
    if rows is None:
        return V * V * K, V * V * K * V
    return int(np.count_nonzero(rows)), int(np.maximum(rows[:, 1:] - 1, 0).sum())


def estimate(config: ModelConfig, witness: dict, params: dict | None = None) -> tuple[int, int]:
    """(work, peak memory in bytes) of the check from the header and the witness's shape: the tables (without
    EQKE for low-rank attention), the exponential enclosures, the O(d_vocab^2 n_ctx) bounds, the claimed cases
    and the refined tokens, counted as `check` counts them, plus the Python-level steps per claimed case."""
    V, K, h = config.d_vocab, config.n_ctx, config.d_head
    witness = witness if isinstance(witness, dict) else {}
    work, memory = table_estimate(config, params)
    if witness.get("attention") == "low-rank":
        factor = witness.get("query_factor")
        r = len(factor[0]) if isinstance(factor, list) and factor and isinstance(factor[0], list) else h
        r = max(1, min(r, h))
        work += 2 * (4 * V * h * r + 2 * V * V * r) + 8 * V * h + 3 * V * V + 2 * V - 2 * V * V * h
    claimed, refined = _claimed_and_refined(witness.get("gaps"), V, K)
    top = witness.get("top_outputs", 0)
    top = top if type(top) is int and 0 <= top <= V else V  # else rejected by check; estimated at the most
    log_k = 10 + int(np.log2(K) + 1)
    work += ARB_OP_WORK * (2 * V * V + V * K) + V * V * (3 * K + 12)
    work += claimed * (K * log_k + PY_STEP_WORK) + refined * (4 * V + K * log_k + top * (12 + 2 * K + K * log_k))
    work += (V - 1) * (K - 1) * (3 * PY_STEP_WORK + 5 * -(-K * (V.bit_length() + 1) // 64))  # inputs_of_cases
    refine_chunk = min(refined, max(1, (1 << 22) // max(V, 1)))
    memory += FLOAT_ENTRY_BYTES * (16 * V * V + 3 * K * V * V + 8 * V * V * K + 12 * refined + 6 * refine_chunk * V)
    memory += 64 * V * V * K  # the witness's gaps as Python lists
    return work, memory


def check(cert, tables: MaxOfKTables, progress=None) -> SchemaResult:
    """Subcubic: accuracy >= (inputs covered by the witness's certified (q, m, c, gap) cases) / d_vocab^K."""
    cfg = tables.config
    V, K = cfg.d_vocab, cfg.n_ctx
    options, gaps, bounds = parse_witness(cert.witness, tables)
    scores = bounds.scores
    result = certified_count(bounds, gaps, options["near_max"], top_outputs=options.get("top_outputs", 0))
    count, failing = result["count"], result["failing"]
    if failing.any():
        q, m, c = (int(x) for x in np.argwhere(failing)[0])
        raise Rejected(f"witness case q={q}, m={m}, c={c}, gap={int(gaps[q, m, c])} is not certified: its bound "
                       f"is not < 0 ({int(failing.sum())} claimed cases fail)")
    if scores is None:
        qk_ops, qk_dimension, qk_cost = table_ops(cfg), V * V, "d_vocab^2 d_head"
    else:
        r = scores.rank
        qk_ops = table_ops(cfg, with_eqke=False) + scores.ops
        qk_dimension = 4 * V * r + (2 * V if options["attention_error"] == "entrywise" else 1)
        qk_cost = "d_vocab^2 r"
    return SchemaResult(
        bound=Fraction(count, V ** K),
        proof_length=qk_ops + bounds.ops + result["ops"],
        complexity_class="subcubic",  # d_vocab^2 d_model (the paper's term: d_model < d_vocab)
        complexity=(f"d_vocab^2 (d_model + n_ctx) + claimed (q, m, gap) groups * n_ctx log n_ctx, EQKE {qk_cost}"
                    + (" + refined tokens * (d_vocab + top_outputs n_ctx log n_ctx)"
                       if options["near_max"] == "refine" else "")),
        # EQKE (V^2 entries, or the factors and residual norms), EVOU, EUPU; D per max; EQKP
        unexplained_dimension=qk_dimension + 2 * V * V + V + V * K,
        details={"claimed_cases": int((gaps > 0).sum()), **options},
    )
