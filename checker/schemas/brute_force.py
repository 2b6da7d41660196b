"""brute-force v1: evaluate every input; the bound is the number of provably correct inputs / d_vocab^K.

Soundness note: docs/proofs/brute-force.md. Outline: a float64 fast path with a rigorous
rounding-error threshold decides most inputs; every input it cannot decide goes to an exact path
(arb enclosures at rising precision, exact ties detected symbolically). Undecided counts as wrong.
"""

from __future__ import annotations

import math
from fractions import Fraction

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
    try:
        evou, pvou, eupu = _float_tables(t)
        magnitude_ok = max(np.abs(evou).max(), np.abs(pvou).max(), np.abs(eupu).max()) * (K + 2) < MAX_MAGNITUDE
    except OverflowError:
        magnitude_ok = False
    factor = threshold_factor(K)
    prefixes = V ** (K - 1)
    # the exponentials of every query first: the queries whose inputs all go to the exact path are known, and
    # their work is charged before any input is evaluated
    exps_by_query = [None if (force_exact or not magnitude_ok) else _exp_factors(t, (exact.score[q], exact.score_pos[q]))
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
            undecided_tokens = _fast_query(t, q, exps, evou, pvou, eupu, factor, stats)
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
    (memory independent of the number of inputs)."""
    V, K = t.config.d_vocab, t.config.n_ctx
    exp_tok, exp_pos = exps
    # rows[i][t] = EVOU[t] + PVOU[i] + EUPU[q]; weight of position i holding t: exp_tok[t] * exp_pos[i]
    rows = [evou + pvou[i] + eupu[q] for i in range(K)]
    magnitude = np.abs(evou).max() + np.abs(pvou).max() + np.abs(eupu[q]).max()
    w_last = exp_tok[q] * exp_pos[K - 1]
    base = w_last * rows[K - 1][q]
    n_prefix = V ** (K - 1)
    chunk = max(1, min(n_prefix, CHUNK_ROWS))
    for start in range(0, n_prefix, chunk):
        idx = np.arange(start, min(n_prefix, start + chunk))
        toks = np.empty((len(idx), K - 1), dtype=np.int64)
        r = idx.copy()
        for i in range(K - 2, -1, -1):
            toks[:, i] = r % V
            r //= V
        num = np.broadcast_to(base, (len(idx), V)).copy()
        total_w = np.full(len(idx), w_last)
        for i in range(K - 1):
            w = exp_tok[toks[:, i]] * exp_pos[i]
            num += w[:, None] * rows[i][toks[:, i]]
            total_w += w
        m = np.maximum(toks.max(axis=1), q) if K > 1 else np.full(len(idx), q)
        ar = np.arange(len(idx))
        right = num[ar, m].copy()
        num[ar, m] = -np.inf
        margin = right - num.max(axis=1)
        thr = total_w * (1.0 + 2.0 ** -40) * magnitude * factor + (K + 2) * 2.0 ** -1060
        ok = margin > thr
        bad = margin < -thr
        stats["correct"] += int(ok.sum())
        stats["wrong"] += int(bad.sum())
        stats["ops"] += len(idx) * (2 * K * V + 2 * V)
        undecided = idx[~(ok | bad)].tolist()
        if undecided:
            charge(len(undecided) * exact_input_work(t.config),
                   "brute force: inputs the float path cannot decide go to the exact path")
        for r_ in undecided:
            yield _unrank(r_, V, K - 1) + (q,)


def estimate(config: ModelConfig, witness: dict) -> tuple[int, int]:
    """(work, peak memory in bytes) of the check from the header: the tables, the exponentials, and the float
    path over all d_vocab^K inputs (2 (K + 1) d_vocab operations each); inputs the float path leaves to the exact
    path are charged when they are known (before they are evaluated)."""
    V, K = config.d_vocab, config.n_ctx
    work, memory = table_estimate(config)
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
