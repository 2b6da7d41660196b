"""brute-force v1: evaluate every input; the bound is the number of provably correct inputs / d_vocab^K.

Soundness note: docs/proofs/brute-force.md. Outline: a float64 fast path with a rigorous
rounding-error threshold decides most inputs; every input it cannot decide goes to an exact path
(arb enclosures at rising precision, exact ties detected symbolically). Undecided counts as wrong.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cached_property

import flint
import numpy as np

from checker.budget import ARB_OP_WORK, FLOAT_ENTRY_BYTES, PY_STEP_WORK, charge, table_estimate
from checker.exact import float_enclosure
from checker.maxofk import MaxOfKTables, table_ops
from checker.model import ModelConfig
from checker.schemas import Rejected, SchemaResult

UNIT_ROUNDOFF = 2.0 ** -53
EXP_REL_ERR = 2.0 ** -50  # relative error allowed for each float enclosure of an exponential
MIN_EXP_FACTOR = 2.0 ** -500  # smaller exponentials go to the exact path (avoids underflow)
MAX_MAGNITUDE = 1e290  # larger table values go to the exact path (avoids overflow)
MAX_PRECISION = 4096  # bits; beyond this an input stays undecided (counted as wrong)
CHUNK_ROWS = 4096


def threshold_factor(n_ctx: int) -> float:
    """c such that |computed margin - true margin| <= c * W * A (see docs/proofs/brute-force.md)."""
    eps1 = (n_ctx + 5) * UNIT_ROUNDOFF * 1.01 + 2.2 * EXP_REL_ERR
    return 4.0 * (2.0 * eps1 + 2.2 * UNIT_ROUNDOFF)


class ExactEvaluator:
    """Decides one input exactly: softmax weights as arb balls at rising precision; exact ties by symbol."""

    def __init__(self, tables: MaxOfKTables):
        self.t = tables
        self.score = tables.eqke.ints()
        self.score_pos = tables.eqkp.ints()
        self.evou = tables.evou.ints()
        self.pvou = tables.pvou.ints()
        self.eupu = tables.eupu.ints()
        self.arb_ops = 0

    def correct(self, tokens: tuple[int, ...]) -> bool | None:
        """True if logit[max] > logit[j] for all j != max, False if not, None if undecided at MAX_PRECISION."""
        q = tokens[-1]
        m = max(tokens)
        V = self.t.config.d_vocab
        groups: dict[int, list[int]] = {}
        for i, tok in enumerate(tokens):
            groups.setdefault(self.score[q][tok] + self.score_pos[q][i], []).append(i)
        # value row of position i: EVOU[t_i] + PVOU[i] + EUPU[q] (the EUPU term has weight sum a_i = 1)
        rows = [[self.evou[tok][j] + self.pvou[i][j] + self.eupu[q][j] for j in range(V)]
                for i, tok in enumerate(tokens)]
        coeffs = []  # per j != m: [(score, sum over group of (row[m] - row[j]))]
        for j in range(V):
            if j == m:
                continue
            c = [(s, sum(rows[i][m] - rows[i][j] for i in idx)) for s, idx in groups.items()]
            c = [(s, v) for s, v in c if v != 0]
            if not c:
                return False  # the margin is exactly zero: a tie counts as wrong
            coeffs.append(c)
        top = max(groups)
        prec = 64
        pending = coeffs
        while pending and prec <= MAX_PRECISION:
            old = flint.ctx.prec
            flint.ctx.prec = prec
            try:
                scale = flint.arb(2) ** self.t.score_exp * flint.arb(self.t.config.d_head).rsqrt()
                weight = {s: ((s - top) * scale).exp() for s in groups}
                still = []
                for c in pending:
                    total = sum((weight[s] * v for s, v in c), flint.arb(0))
                    self.arb_ops += 2 * len(c)
                    if total < 0:
                        return False
                    if not total > 0:
                        still.append(c)
                pending = still
            finally:
                flint.ctx.prec = old
            prec *= 2
        return True if not pending else None


def _float_tables(t: MaxOfKTables):
    evou, _ = t.evou.to_float64()
    pvou, _ = t.pvou.to_float64()
    eupu, _ = t.eupu.to_float64()
    return evou, pvou, eupu


def fast_path_tables(t: MaxOfKTables) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """EVOU, PVOU, EUPU in float64 when the fast path may use them (section 3.5: they fit, and
    max |table| (K + 2) < MAX_MAGNITUDE); None when every input must take the exact path."""
    try:
        evou, pvou, eupu = _float_tables(t)
    except OverflowError:
        return None
    K = t.config.n_ctx
    if not max(np.abs(evou).max(), np.abs(pvou).max(), np.abs(eupu).max()) * (K + 2) < MAX_MAGNITUDE:
        return None
    return evou, pvou, eupu


def query_fast_path(t: MaxOfKTables, q: int, exact: "ExactEvaluator", float_tables) -> "QueryFastPath | None":
    """The fast path for inputs ending in q, or None when they must all take the exact path."""
    exps = None if float_tables is None else _exp_factors(t, (exact.score[q], exact.score_pos[q]))
    if exps is None:
        return None
    return QueryFastPath(t, q, exps, *float_tables, threshold_factor(t.config.n_ctx))


def _exp_factors(t: MaxOfKTables, score_rows: tuple[list[int], list[int]]) -> tuple[np.ndarray, np.ndarray] | None:
    """Float enclosures (relative error <= EXP_REL_ERR) of exp((score - max)/sqrt(d)) by token and position."""
    old = flint.ctx.prec
    flint.ctx.prec = 128
    try:
        scale = flint.arb(2) ** t.score_exp * flint.arb(t.config.d_head).rsqrt()
        out = []
        for row in score_rows:
            top = max(row)
            vals = []
            for s in row:
                e = ((s - top) * scale).exp()
                f = float_enclosure(e, EXP_REL_ERR)
                if f < MIN_EXP_FACTOR:
                    return None
                vals.append(f)
            out.append(np.array(vals))
        return out[0], out[1]
    except ArithmeticError:
        return None
    finally:
        flint.ctx.prec = old


def count_correct(t: MaxOfKTables, force_exact: bool = False, progress=None) -> dict:
    """Count inputs proven correct. Returns counts and the number of operations performed."""
    cfg = t.config
    V, K = cfg.d_vocab, cfg.n_ctx
    exact = ExactEvaluator(t)
    stats = {"correct": 0, "wrong": 0, "undecided": 0, "exact_path": 0, "ops": 0}
    float_tables = None if force_exact else fast_path_tables(t)
    factor = threshold_factor(K)
    prefixes = V ** (K - 1)
    # the exponentials of every query first: the queries whose inputs all go to the exact path are known, and
    # their work is charged before any input is evaluated
    exps_by_query = [None if float_tables is None else _exp_factors(t, (exact.score[q], exact.score_pos[q]))
                     for q in range(V)]
    all_exact = sum(e is None for e in exps_by_query)
    if all_exact:
        charge(all_exact * prefixes * exact_input_work(cfg),
               f"brute force: {all_exact * prefixes:.3g} inputs go to the exact path (exponentials underflow or "
               f"table values are beyond float range)")
    for q in range(V):
        exps = exps_by_query[q]
        if exps is None:  # streamed: one input at a time, memory independent of the number of inputs
            undecided_tokens = (_unrank(r, V, K - 1) + (q,) for r in range(prefixes))
        else:
            undecided_tokens = _fast_query(t, q, exps, *float_tables, factor, stats)
        for tokens in undecided_tokens:
            stats["exact_path"] += 1
            verdict = exact.correct(tokens)
            key = "correct" if verdict else ("wrong" if verdict is False else "undecided")
            stats[key] += 1
        if progress is not None:
            progress(q + 1, V)
    stats["ops"] += exact.arb_ops
    return stats


def _unrank(r: int, V: int, n: int) -> tuple[int, ...]:
    digits = []
    for _ in range(n):
        digits.append(r % V)
        r //= V
    return tuple(digits[::-1])


def exact_input_work(cfg: ModelConfig) -> int:
    """Work of deciding one input on the exact path (arb operations and Python steps, per output and position)."""
    return (ARB_OP_WORK + PY_STEP_WORK) * 2 * (cfg.n_ctx + 1) * cfg.d_vocab


def _fast_query(t, q, exps, evou, pvou, eupu, factor, stats):
    """Float64 fast path for all inputs ending in q; yields the inputs it could not decide, chunk by chunk
    (memory independent of the number of inputs). A chunk is whole blocks of d_vocab inputs that differ only in
    their last non-query token (QueryFastPath.block_verdicts) when d_vocab <= CHUNK_ROWS."""
    V, K = t.config.d_vocab, t.config.n_ctx
    fast = QueryFastPath(t, q, exps, evou, pvou, eupu, factor)
    n_prefix = V ** (K - 1)
    blocks = K >= 2 and V <= CHUNK_ROWS
    chunk = max(1, min(n_prefix, CHUNK_ROWS // V * V if blocks else CHUNK_ROWS))
    for start in range(0, n_prefix, chunk):
        idx = np.arange(start, min(n_prefix, start + chunk))
        width = K - 2 if blocks else K - 1  # blocks: the tokens before the last non-query one
        toks = np.empty((len(idx) // V if blocks else len(idx), width), dtype=np.int64)
        r = idx[::V] // V if blocks else idx.copy()
        for i in range(width - 1, -1, -1):
            toks[:, i] = r % V
            r //= V
        verdict = fast.block_verdicts(toks) if blocks else fast.verdicts(toks)
        stats["correct"] += int((verdict == 1).sum())
        stats["wrong"] += int((verdict == 0).sum())
        stats["ops"] += fast.ops(len(idx))
        undecided = idx[verdict < 0].tolist()
        if undecided:
            charge(len(undecided) * exact_input_work(t.config),
                   "brute force: inputs the float path cannot decide go to the exact path")
        for r_ in undecided:
            yield _unrank(r_, V, K - 1) + (q,)


class QueryFastPath:
    """The float64 fast path of section 3 of docs/proofs/brute-force.md for inputs ending in query q.

    `verdicts(toks)` decides the inputs toks[r] + (q,) (toks: int array [n, K-1] of non-query tokens):
    1 proven correct, 0 proven wrong, -1 undecided (the caller sends those to the exact path)."""

    def __init__(self, t, q, exps, evou, pvou, eupu, factor):
        K = t.config.n_ctx
        self.K, self.q, self.factor = K, q, factor
        self.exp_tok, self.exp_pos = exps
        # rows[i][t] = EVOU[t] + PVOU[i] + EUPU[q]; weight of position i holding t: exp_tok[t] * exp_pos[i]
        self.rows = [evou + pvou[i] + eupu[q] for i in range(K)]
        self.magnitude = np.abs(evou).max() + np.abs(pvou).max() + np.abs(eupu[q]).max()
        self.w_last = self.exp_tok[q] * self.exp_pos[K - 1]
        self.base = self.w_last * self.rows[K - 1][q]

    def ops(self, n: int) -> int:
        """Operations counted for n inputs (2 K V + 2 V each, decided or not)."""
        V = len(self.base)
        return n * (2 * self.K * V + 2 * V)

    def _partial(self, toks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The weighted numerator and total weight after the query and the positions of toks' columns, in
        position order (this order is the error analysis's, and every path below keeps it)."""
        num = np.broadcast_to(self.base, (len(toks), len(self.base))).copy()
        total_w = np.full(len(toks), self.w_last)
        w, term = np.empty(len(toks)), np.empty_like(num)
        for i in range(toks.shape[1]):  # np.take and out=: the same operations as fancy indexing, without copies
            column = toks[:, i]
            np.multiply(np.take(self.exp_tok, column), self.exp_pos[i], out=w)
            np.multiply(w[:, None], np.take(self.rows[i], column, axis=0), out=term)
            num += term
            total_w += w
        return num, total_w

    def verdicts(self, toks: np.ndarray) -> np.ndarray:
        num, total_w = self._partial(toks)
        m = np.maximum(toks.max(axis=1), self.q) if self.K > 1 else np.full(len(toks), self.q)
        return self._decide(num, total_w, m)

    def block_verdicts(self, heads: np.ndarray) -> np.ndarray:
        """verdicts(toks) for toks = every (head, t), head-major, t = 0..d_vocab-1 in the last non-query
        position (heads: int array [n, K-2]). The inputs of a head share its partial sums, and the last term is
        added to them exactly as verdicts() adds it, so every value is the same float: the same verdicts."""
        V, last = len(self.base), self.K - 2
        head_num, head_w = self._partial(heads)
        w, terms = self._last_terms
        num = (head_num[:, None, :] + terms[None]).reshape(-1, V)
        total_w = (head_w[:, None] + w[None]).reshape(-1)
        head_max = heads.max(axis=1) if last else np.full(len(heads), -1)
        m = np.maximum(np.maximum(head_max[:, None], np.arange(V)[None]), self.q).reshape(-1)
        return self._decide(num, total_w, m)

    @cached_property
    def _last_terms(self) -> tuple[np.ndarray, np.ndarray]:
        """For each token t at the last non-query position: its weight fl(exp_tok[t] * exp_pos[K-2]) and its
        numerator term fl(weight * rows[K-2][t]), as verdicts() forms them; once per query."""
        w = self.exp_tok * self.exp_pos[self.K - 2]
        return w, w[:, None] * self.rows[self.K - 2]

    def _decide(self, num: np.ndarray, total_w: np.ndarray, m: np.ndarray) -> np.ndarray:
        n = len(num)
        ar = np.arange(n)
        right = num[ar, m].copy()
        num[ar, m] = -np.inf
        margin = right - num.max(axis=1)
        thr = total_w * (1.0 + 2.0 ** -40) * self.magnitude * self.factor + (self.K + 2) * 2.0 ** -1060
        return np.where(margin > thr, 1, np.where(margin < -thr, 0, -1)).astype(np.int8)


def estimate(config: ModelConfig, witness: dict, params: dict | None = None) -> tuple[int, int]:
    """(work, peak memory in bytes) of the check from the header: the tables, the exponentials, and the float
    path over all d_vocab^K inputs (2 (K + 1) d_vocab operations each); inputs the float path leaves to the exact
    path are charged when they are known (before they are evaluated)."""
    V, K = config.d_vocab, config.n_ctx
    work, memory = table_estimate(config, params)
    work += ARB_OP_WORK * V * (V + K) + V ** K * (2 * K * V + 2 * V)
    chunk = min(V ** (K - 1), CHUNK_ROWS)
    memory += FLOAT_ENTRY_BYTES * (3 * V * V + K * V * V + 6 * chunk * V + 2 * chunk * K)
    return work, memory


def check(cert, tables: MaxOfKTables, progress=None) -> SchemaResult:
    """Brute force: accuracy >= (inputs proven correct) / d_vocab^K."""
    if cert.witness:
        raise Rejected(f"brute-force takes no witness, found entries {sorted(cert.witness)}")
    stats = count_correct(tables, progress=progress)
    cfg = tables.config
    total = cfg.d_vocab ** cfg.n_ctx
    return SchemaResult(
        bound=Fraction(stats["correct"], total),
        proof_length=table_ops(cfg) + stats["ops"],
        complexity_class="exponential",
        complexity="d_vocab^n_ctx * n_ctx * d_vocab",
        unexplained_dimension=total * cfg.d_vocab,  # d_vocab^(K+1), as the paper counts it
        details={k: stats[k] for k in ("correct", "wrong", "undecided", "exact_path")},
    )
