"""cubic v1: the case analysis of Gross et al. (2024) over (query q, max m, non-max token k, copies c).

Soundness note: docs/proofs/cubic.md. Every quantity is a rigorous float64 bound computed from the
exact tables with outward rounding (checker.exact: up/down, one ulp per operation); exponentials are
enclosed once per table entry with arb. A case whose upper bound is not < 0 is not certified.

Witness: `direct_path`, how the worst wrong output j is taken: "separate" (the direct path and the OV
path each at their own worst j, about d_vocab^3 operations), "joint" (the direct path joins each token's
OV contribution at that token's worst j, about d_vocab^4 / 3), "per-output" (every j checked for each
case, about d_vocab^4 n_ctx), "top-outputs" (with `top_outputs` = r: for each non-max token k, the r
wrong outputs its OV row favours most are checked one by one and the others together; about
d_vocab^3 n_ctx (r + 1)).
"""

from __future__ import annotations

from fractions import Fraction

import flint
import numpy as np

from checker.budget import ARB_OP_WORK, FLOAT_ENTRY_BYTES, PY_STEP_WORK, table_estimate
from checker.exact import INF, Dyadic, arb_float_bounds, dyadic_interval, mul_upper, sum_upper, up
from checker.maxofk import MaxOfKTables, inputs_of_cases, table_ops
from checker.model import ModelConfig
from checker.schemas import Rejected, SchemaResult

DIRECT_PATH = ("separate", "joint", "per-output", "top-outputs")


def exp_bounds(t: MaxOfKTables) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Float bounds of E[q,t] = exp((EQKE[q,t] - max_t' EQKE[q,t']) / sqrt(d)) and of the positional
    factor alpha[q,i] = exp((EQKP[q,i] - max_i' EQKP[q,i']) / sqrt(d)) (the offsets are positive
    per-query constants, which cancel in the sign of every softmax-weighted sum)."""
    return (*score_exp_bounds(t.eqke, t.config.d_head), *score_exp_bounds(t.eqkp, t.config.d_head))


def score_exp_bounds(table: Dyadic, d_head: int, radius=None) -> tuple[np.ndarray, np.ndarray]:
    """Float bounds lo <= exp((S[q,t] - top_q) / sqrt(d_head)) <= hi, elementwise, for every S with
    |S[q,t] - table[q,t]| <= radius(q, t) (an arb; None means S = table), top_q = max_t table[q,t]."""
    scale = flint.arb(2) ** table.exp * flint.arb(d_head).rsqrt()
    inv_sqrt_d = flint.arb(d_head).rsqrt()
    rows = table.ints()
    lo = np.empty((len(rows), len(rows[0])))
    hi = np.empty_like(lo)
    for q, row in enumerate(rows):
        top = max(row)
        for i, s in enumerate(row):
            x = (s - top) * scale
            if radius is None:
                e_lo, hi[q, i] = arb_float_bounds(x.exp())
            else:
                r = radius(q, i) * inv_sqrt_d
                e_lo = arb_float_bounds((x - r).exp())[0]
                hi[q, i] = arb_float_bounds((x + r).exp())[1]
            lo[q, i] = max(e_lo, 0.0)  # exp > 0; a ball around a tiny value can reach below 0
    return lo, hi


BLOCK_ENTRIES = 1 << 21  # entries of the [q, k, J, i] arrays of one block of queries
# An operation of the case bounds (outward-rounded float64 over [q, k, J, i] arrays) takes about 3 times as long
# as one of brute force's float path (benchmarks/bench_budget.py, per-output against brute force in one run).
CASE_OP_WORK = 3


def _block(m: int, n_out: int, K: int) -> int:
    return max(1, BLOCK_ENTRIES // max(1, m * n_out * K))


def top_outputs_of(scores: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row k of scores [k, j]: the columns of its `top` largest entries (any order among ties), and the
    largest entry outside them (the (top+1)-th largest), for 0 <= top < number of columns. A NaN (an unknown
    value) ranks as +inf: it is a candidate, or the largest outside them is +inf."""
    scores = np.where(np.isnan(scores), INF, scores)
    picked = np.argpartition(-scores, top, axis=1)[:, : top + 1]  # the top + 1 largest, unordered
    order = np.argsort(-np.take_along_axis(scores, picked, axis=1), axis=1, kind="stable")
    picked = np.take_along_axis(picked, order, axis=1)
    return picked[:, :top], np.take_along_axis(scores, picked[:, top:], axis=1)[:, 0]


def cubic_counts(t: MaxOfKTables, direct_path: str = "joint", collect: bool = False, progress=None,
                 top_outputs: int = 0) -> dict:
    """Number of inputs proven correct by the cubic argument, and the operation count.

    direct_path: how the worst wrong output j is taken (docs/proofs/cubic.md, Step 1):
    "separate" (direct and OV paths each at their own worst j), "joint" (each token's direct + OV
    contribution at its worst j), "per-output" (every j checked separately for each case), "top-outputs"
    (every j for c = 0; for a non-max token k, each of the `top_outputs` outputs j with the largest
    e(k, j) + pnq(j) separately and one bound for all the other outputs; 0 <= top_outputs <= max(0, d_vocab - 2)).
    With collect=True also returns `cases`: (q, m, c) -> set of certified k (c = 0: {} when certified).
    """
    V, K = t.config.d_vocab, t.config.n_ctx
    evou_lo, evou_hi = dyadic_interval(t.evou)
    pvou_lo, pvou_hi = dyadic_interval(t.pvou)
    eupu_lo, eupu_hi = dyadic_interval(t.eupu)
    e_lo, e_hi, a_lo, a_hi = exp_bounds(t)
    ops = table_ops(t.config) + 2 * V * (V + K)
    certified = 0  # inputs of the certified c = 0 cases; those of c >= 1 are tallied by (c, certified k)
    tally = np.zeros((K, V), dtype=np.int64)
    certified_cases = 0
    cases: dict[tuple[int, int, int], set[int]] = {}
    with np.errstate(invalid="ignore", over="ignore"):
        for m in range(V):
            qs = np.arange(m + 1)  # queries q <= m
            js = np.delete(np.arange(V), m)  # wrong outputs j != m
            # upper bounds of wrong-minus-right differences u(j), e(t, j), p(i, j) for j != m
            ov = up(evou_hi[: m + 1, js] - evou_lo[: m + 1, m : m + 1])  # [t, j]
            pos_nq = (np.max(up(pvou_hi[: K - 1, js] - pvou_lo[: K - 1, m : m + 1]), axis=0) if K > 1
                      else np.full(len(js), -INF))
            pos_q = up(pvou_hi[K - 1, js] - pvou_lo[K - 1, m])
            direct = up(eupu_hi[qs][:, js] - eupu_lo[qs, m : m + 1])  # [q, j]
            ov_nq = up(ov + pos_nq[None, :])  # [t, j] for a token at a non-query position
            ov_q = up(ov[qs, :] + pos_q[None, :])  # [q, j]: the query's own token at position K-1
            # w_nq[q, t, J] >= the token's wrong-minus-right term; w_q[q, J] for the query (J = 1 or j != m)
            if direct_path == "top-outputs":  # per output for the max token and the query (c = 0, candidates)
                w_nq = up(direct + ov_nq[m][None, :])[:, None, :]  # [q, 1 (t = m), j]
                w_q = up(direct + ov_q)
                ops += 4 * len(qs) * len(js)
            elif direct_path == "per-output":
                w_nq = up(direct[:, None, :] + ov_nq[None, :, :])
                w_q = up(direct + ov_q)
                ops += 2 * len(qs) * (m + 2) * len(js)
            elif direct_path == "joint":
                w_nq = np.max(up(direct[:, None, :] + ov_nq[None, :, :]), axis=2, initial=-INF)[:, :, None]
                w_q = np.max(up(direct + ov_q), axis=1, initial=-INF)[:, None]
                ops += 2 * len(qs) * (m + 2) * len(js)
            else:
                worst_direct = np.max(direct, axis=1, initial=-INF)  # [q]
                w_nq = up(worst_direct[:, None] + np.max(ov_nq, axis=1, initial=-INF)[None, :])[:, :, None]
                w_q = up(worst_direct + np.max(ov_q, axis=1, initial=-INF))[:, None]
                ops += 2 * (len(qs) + m + 1) * len(js) + len(qs) * (m + 1)
            n_out = w_q.shape[1]
            # P[q, t, J] >= E[q, t] * w;  query term C[q, J] >= alpha[q, K-1] * E[q, q] * w_q
            tokens = slice(m, m + 1) if direct_path == "top-outputs" else slice(0, m + 1)  # the rows of w_nq
            p = mul_upper(e_lo[qs][:, tokens, None], e_hi[qs][:, tokens, None], w_nq)
            c_term = mul_upper(a_lo[qs, K - 1, None], a_hi[qs, K - 1, None],
                               mul_upper(e_lo[qs, qs, None], e_hi[qs, qs, None], w_q))
            al, ah = a_lo[qs, None, : K - 1], a_hi[qs, None, : K - 1]  # [q, 1, i]
            max_term = mul_upper(al, ah, p[:, -1, :, None])  # A[q, J, i] for the max token at position i
            # c = 0: every non-query position holds m
            f0 = up(sum_upper(max_term) + c_term)  # [q, J]
            ok0 = np.all(np.isfinite(f0) & (f0 < 0), axis=1) & ((qs == m) | (K > 1))  # q < m needs a non-query m
            if collect:
                cases.update({(int(q), m, 0): set() for q in qs[ok0]})
            certified += int(ok0.sum())
            certified_cases += int(ok0.sum())
            ops += len(qs) * K * n_out
            if m == 0 or K == 1:
                continue
            if direct_path == "top-outputs":  # J: k's candidate outputs, then one slot for all the others
                p_k, p_max, c_k = _top_output_terms(direct, ov_nq[:m], p[:, 0], c_term, top_outputs, e_lo, e_hi)
                n_out = top_outputs + 1
                ops += 2 * m * len(js) + 3 * len(qs) * m * n_out
            else:  # J is shared by all k: the max token's and the query's terms broadcast over k
                p_k, p_max, c_k = p[:, :m], p[:, m:], c_term[:, None, :]
            ok_by_c = {c: np.ones((len(qs), m), dtype=bool) for c in range(1, K)}
            block = _block(m, n_out, K)
            for q0 in range(0, len(qs), block):  # blocks of queries bound the memory of [q, k, J, i] arrays
                sl = slice(q0, q0 + block)
                k_term = mul_upper(al[sl, None], ah[sl, None], p_k[sl, ..., None])  # B[q, k, J, i]
                m_term = mul_upper(al[sl, None], ah[sl, None], p_max[sl, ..., None])  # A[q, 1 or k, J, i]
                delta = -np.sort(-up(m_term - k_term), axis=3)  # descending over positions
                sum_b = sum_upper(k_term)  # [q, k, J]
                prefix = np.zeros_like(sum_b)
                for c in range(K - 1, 0, -1):  # c copies of k; K-1-c positions hold m (the largest deltas)
                    r = K - 1 - c
                    if r > 0:
                        prefix = up(prefix + delta[..., r - 1])
                    f = up(up(sum_b + prefix) + c_k[sl])  # [q, k, J]
                    ok_by_c[c][sl] = np.all(np.isfinite(f) & (f < 0), axis=2)
            for c, ok in ok_by_c.items():
                allowed = qs == m if c == K - 1 else np.ones(len(qs), dtype=bool)  # q < m needs one m elsewhere
                good = ok.sum(axis=1)  # certified k per q: the case (q, m, c) covers C(K-1, c) good^c inputs
                tally[c, : m + 1] += np.bincount(good[allowed], minlength=m + 1)
                certified_cases += int(ok[allowed].sum())
                if collect:
                    for q in qs[allowed]:
                        cases[(int(q), m, c)] = set(np.flatnonzero(ok[q]).tolist())
            ops += len(qs) * m * (K - 1) * n_out * (6 + int(np.log2(K) + 1))
            if progress is not None:
                progress(m + 1, V)
    out = {"correct": certified + inputs_of_cases(K, tally), "certified_cases": certified_cases, "ops": ops}
    if collect:
        out["cases"] = cases
    return out


def _top_output_terms(direct, ov_nq, p_max, c_term, top, e_lo, e_hi):
    """The [q, k, J] upper bounds of the top-outputs cases of one max token m (k < m the non-max tokens,
    p_max[q, j] and c_term[q, j] the max token's and the query's per-output terms). Slot s < top is output
    j = the s-th candidate of k (the s-th largest ov_nq[k, j]): k's P = E[q, k] w_j(k), the max token's P and
    the query's term at that j, as per-output computes them. Slot `top` bounds every other output at once:
    k's w by max_j direct[q, j] + the largest ov_nq[k, j] outside the candidates, the max token's and the
    query's terms by their maxima over all j (docs/proofs/cubic.md, top-outputs)."""
    n_q, n_k = len(direct), len(ov_nq)
    candidates, rest = top_outputs_of(ov_nq, top)  # [k, top], [k]
    w_k = np.concatenate([up(direct[:, candidates] + ov_nq[np.arange(n_k)[:, None], candidates][None]),
                          up(np.max(direct, axis=1)[:, None] + rest[None, :])[:, :, None]], axis=2)
    p_k = mul_upper(e_lo[:n_q, :n_k, None], e_hi[:n_q, :n_k, None], w_k)

    def with_rest(a):  # [q, j] -> [q, k, J]
        worst = np.broadcast_to(np.max(a, axis=1)[:, None, None], (n_q, n_k, 1))
        return np.concatenate([a[:, candidates], worst], axis=2)

    return p_k, with_rest(p_max), with_rest(c_term)


COMPLEXITY = {"separate": "d_vocab^3 n_ctx log n_ctx", "joint": "d_vocab^4 / 3",
              "per-output": "d_vocab^4 n_ctx log n_ctx / 6",
              "top-outputs": "d_vocab^3 n_ctx log n_ctx (top_outputs + 1)"}


def estimate(config: ModelConfig, witness: dict, params: dict | None = None) -> tuple[int, int]:
    """(work, peak memory in bytes) of the check from the header and the witness's direct_path: the operation
    count of `cubic_counts` in closed form (its per-case term weighted by CASE_OP_WORK), plus the Python-level
    steps of its loops over blocks and positions."""
    V, K = config.d_vocab, config.n_ctx
    direct_path = witness.get("direct_path") if isinstance(witness, dict) else None
    top = witness.get("top_outputs") if direct_path == "top-outputs" else None
    if direct_path == "top-outputs" and not (type(top) is int and 0 <= top <= max(0, V - 2)):
        direct_path = "per-output"  # rejected by check; estimated as the costliest
    direct_path = direct_path if direct_path in DIRECT_PATH else "per-output"  # the costliest
    n_out = V - 1 if direct_path == "per-output" else top + 1 if direct_path == "top-outputs" else 1
    work, memory = table_estimate(config, params)
    work += 2 * V * (V + K) + ARB_OP_WORK * V * (V + K)
    log_k = 6 + int(np.log2(K) + 1)
    steps = 0
    for m in range(V):
        q = m + 1
        if direct_path == "separate":
            work += 2 * (q + m + 1) * (V - 1) + q * (m + 1)
        elif direct_path == "top-outputs":
            work += 4 * q * (V - 1) + 2 * m * (V - 1) + 3 * q * m * n_out + q * K * (V - 1)
        else:
            work += 2 * q * (m + 2) * (V - 1)
        if direct_path != "top-outputs":
            work += q * K * n_out
        steps += 20 + K
        if m == 0 or K == 1:
            continue
        work += CASE_OP_WORK * q * m * (K - 1) * n_out * log_k
        steps += -(-q // _block(m, n_out, K)) * (4 * K + 10) + 8 * K
    work += PY_STEP_WORK * steps
    # inputs_of_cases: K - 1 steps for each certified-token count g < d_vocab, each a few operations on integers
    # below (2 d_vocab)^K
    work += (V - 1) * (K - 1) * (3 * PY_STEP_WORK + 5 * -(-K * (V.bit_length() + 1) // 64))
    w_entries = V * V * n_out  # the [q, t, J] arrays of the last (largest) max m
    if direct_path == "top-outputs":
        w_entries += V * K  # and its per-output max-token terms [q, j, i]
    memory += FLOAT_ENTRY_BYTES * (10 * V * V + 5 * V * K + 5 * w_entries + 6 * max(BLOCK_ENTRIES, V * n_out * K))
    return work, memory


def check(cert, tables: MaxOfKTables, progress=None) -> SchemaResult:
    """Cubic: accuracy >= (inputs covered by certified cases) / d_vocab^K."""
    w = dict(cert.witness)
    cfg = tables.config
    direct_path = w.pop("direct_path", None)
    if direct_path not in DIRECT_PATH:
        raise Rejected(f"witness direct_path must be one of {DIRECT_PATH}, got {direct_path!r}")
    top = w.pop("top_outputs", None) if direct_path == "top-outputs" else 0
    if type(top) is not int or not 0 <= top <= max(0, cfg.d_vocab - 2):  # d_vocab 1: no wrong output, top 0
        raise Rejected(f"witness top_outputs (with direct_path top-outputs) must be an integer from 0 to "
                       f"max(0, d_vocab - 2) = {max(0, cfg.d_vocab - 2)}, got {top!r}")
    if w:
        raise Rejected(f"unknown witness entries for cubic: {sorted(w)}")
    stats = cubic_counts(tables, direct_path, progress=progress, top_outputs=top)
    total = cfg.d_vocab ** cfg.n_ctx
    return SchemaResult(
        bound=Fraction(stats["correct"], total),
        proof_length=stats["ops"],
        complexity_class="cubic" if direct_path in ("separate", "top-outputs") else "quartic",
        complexity=COMPLEXITY[direct_path],
        unexplained_dimension=3 * cfg.d_vocab ** 2 + 2 * cfg.d_vocab * cfg.n_ctx,  # as the paper counts it
        details={"certified_cases": stats["certified_cases"], "direct_path": direct_path,
                 **({"top_outputs": top} if direct_path == "top-outputs" else {})},
    )
