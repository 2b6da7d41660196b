"""branch-and-bound v1: a case tree over the input space; every leaf certified, enumerated, or given up.

Soundness note: docs/proofs/branch-and-bound.md. A node is a set of inputs (query q, max m, and for each
token bin [lo, hi) of [0, m) the number of non-query positions holding a token of that bin; the other
non-query positions hold m). The roots (one per (q, m, c)) partition the input space; a split cuts one bin
in two and has one child per way of dividing that bin's count, so children partition their parent. The
checker re-derives every node from its parent and compares it with the witness row, recounts every leaf,
and decides every leaf itself:
- certified (kinds 1, 4, 5): a rigorous float64 upper bound of every wrong-minus-right logit difference over
  the whole leaf (per output; mixture, position-aware, or sorted mixture over positions) is < 0, so all its
  inputs are correct;
- enumerated (kind 2): each input is decided by brute force's evaluator (float fast path with its error
  threshold, exact path for the rest); undecided counts as wrong;
- given up (kind 3): counts as wrong, costs nothing.

Witness: `nodes`, a vector of strings, one row per node in preorder, roots in the order of `roots`:
    "kind a b q m n_1 hi_1 ... n_T hi_T"      (bin t is [hi_{t-1}, hi_t), hi_0 = 0, hi_T = m)
(one string per row keeps the file's token count, hence its parse time, small).
    kind 0 split: a = bin index (0-based), b = cut (lo < b < hi); children for a' = 0..n of that bin, a' of
    its tokens in [lo, b) and n - a' in [b, hi), in that order.
    kinds 1 (mixture bound), 4 (position-aware bound) and 5 (sorted mixture bound) certified: a = the leaf's
    number of inputs; kind 2 enumerated: a = its number of proven-correct inputs; kind 3 given up: a = 0.
    For leaves b = 0.
"""

from __future__ import annotations

import re
from collections import defaultdict
from fractions import Fraction
from math import factorial, prod

import numpy as np

from checker.budget import ARB_OP_WORK, PY_STEP_WORK, charge, table_estimate
from checker.exact import down, dyadic_interval, mul_upper, up
from checker.maxofk import MaxOfKTables, table_ops
from checker.model import ModelConfig
from checker.schemas import Rejected, SchemaResult
from checker.schemas.brute_force import ExactEvaluator, exact_input_work, fast_path_tables, query_fast_path
from checker.schemas.cubic import exp_bounds

SPLIT, CERTIFIED, ENUMERATED, GIVEN_UP, CERTIFIED_POSITIONS, CERTIFIED_SORTED = 0, 1, 2, 3, 4, 5
KINDS = {SPLIT: "split", CERTIFIED: "certified", ENUMERATED: "enumerated", GIVEN_UP: "given up",
         CERTIFIED_POSITIONS: "certified", CERTIFIED_SORTED: "certified"}
CERTIFIED_KINDS = (CERTIFIED, CERTIFIED_POSITIONS, CERTIFIED_SORTED)
ENUM_CHUNK = 1 << 14  # at most this many inputs per fast-path call
ENUM_ENTRIES = 1 << 22  # and at most about this many tokens


# --- Nodes: description, counting, children ---------------------------------------------------------

Node = tuple  # (q, m, ((n_1, hi_1), ..., (n_T, hi_T)))


def roots(V: int, K: int):
    """The root nodes (q, m, c): query q <= m, c non-query tokens below m; they partition [0, V)^K."""
    for m in range(V):
        for q in range(m + 1):
            top = K - 1 if q == m else K - 2  # q < m needs a non-query position holding m
            for c in range(top + 1 if m >= 1 else 1):
                yield (q, m, ((c, m),))


def bins_of(node: Node) -> list[tuple[int, int, int]]:
    """(lo, hi, n) for each bin of the node."""
    out, lo = [], 0
    for n, hi in node[2]:
        out.append((lo, hi, n))
        lo = hi
    return out


def node_size(K: int, node: Node) -> int:
    """Number of inputs in the node: (K-1)! / (r! prod n_t!) * prod width_t^n_t, r = K-1-sum n_t."""
    counts = [n for n, _ in node[2]]
    r = K - 1 - sum(counts)
    ways = factorial(K - 1) // (factorial(r) * prod(factorial(n) for n in counts))
    return ways * prod((hi - lo) ** n for lo, hi, n in bins_of(node))


def children(node: Node, index: int, cut: int) -> list[Node]:
    """The children of splitting bin `index` at `cut` (a' = 0..n tokens below the cut); ValueError if invalid."""
    q, m, bins = node
    if not 0 <= index < len(bins):
        raise ValueError(f"bin index {index} is not one of the node's {len(bins)} bins")
    lo, hi, n = bins_of(node)[index]
    if not lo < cut < hi:
        raise ValueError(f"cut {cut} is not strictly inside bin {index} = [{lo}, {hi})")
    return [(q, m, bins[:index] + ((a, cut), (n - a, hi)) + bins[index + 1:]) for a in range(n + 1)]


def describe(node: Node) -> str:
    q, m, _ = node
    return f"(q={q}, m={m}, bins " + " ".join(f"[{lo},{hi}):{n}" for lo, hi, n in bins_of(node)) + ")"


ROW = re.compile(r"(0|[1-9][0-9]{0,40})( (0|[1-9][0-9]{0,40}))*")


def _row_node(row) -> tuple[int, int, int, Node]:
    """Parse a row "kind a b q m n_1 hi_1 ... n_T hi_T" (non-negative decimal integers, single spaces)."""
    if not isinstance(row, str) or not ROW.fullmatch(row):
        raise ValueError(f"a node row is a string of integers 'kind a b q m n_1 hi_1 ...', got {row!r:.60}")
    values = [int(v) for v in row.split(" ")]
    if len(values) < 7 or len(values) % 2 == 0:
        raise ValueError(f"a node row has 5 + 2 T integers (T >= 1 bins), got {len(values)}")
    kind, a, b, q, m = values[:5]
    return kind, a, b, (q, m, tuple(zip(values[5::2], values[6::2])))


def node_row(kind: int, a: int, b: int, node: Node) -> str:
    """The witness row of a node."""
    return " ".join(str(v) for v in [kind, a, b, node[0], node[1]] + [v for pair in node[2] for v in pair])


def walk(cfg: ModelConfig, rows: list) -> list[tuple[int, int, int, Node]]:
    """Verify the tree's shape: every row describes the node its parent's split gives, in preorder, and
    nothing is missing or left over. Returns the leaves as (row index, kind, claimed a, node)."""
    V, K = cfg.d_vocab, cfg.n_ctx
    leaves = []
    index = 0
    for root in roots(V, K):
        stack = [root]
        while stack:
            node = stack.pop()
            if index >= len(rows):
                raise Rejected(f"node {index}: missing (the tree ends before {describe(node)} is covered)")
            try:
                kind, a, b, described = _row_node(rows[index])
            except ValueError as exc:
                raise Rejected(f"node {index}: {exc}") from None
            if described != node:
                raise Rejected(f"node {index}: the witness describes {describe(described)}, but the tree needs "
                               f"{describe(node)} here (overlapping or missing leaves)")
            if kind == SPLIT:
                try:
                    stack.extend(reversed(children(node, a, b)))
                except ValueError as exc:
                    raise Rejected(f"node {index} {describe(node)}: split does not partition: {exc}") from None
            elif kind in KINDS:
                if b != 0:
                    raise Rejected(f"node {index} {describe(node)}: a leaf row has b = 0, got {b}")
                leaves.append((index, kind, a, node))
            else:
                raise Rejected(f"node {index}: unknown kind {kind} (0 split, 1 certified by the mixture bound, "
                               "2 enumerated, 3 given up, 4 certified by the position-aware bound, 5 certified by "
                               "the sorted mixture bound)")
            index += 1
    if index != len(rows):
        raise Rejected(f"node {index}: {len(rows) - index} rows after the last root's tree (overlapping leaves)")
    return leaves


# --- Certified leaves: position-aware per-output bound -------------------------------------------------

class MaxBounds:
    """For one max token m and queries q <= m, rigorous float64 upper bounds (docs/proofs/branch-and-bound.md,
    section 3) of the terms whose sum over an input's positions is Z (logit[j] - logit[m]), Z > 0, for each
    wrong output j != m. With u_q(j) = EUPU[q, j] - EUPU[q, m], e(k, j) = EVOU[k, j] - EVOU[k, m],
    p(i, j) = PVOU[i, j] - PVOU[i, m], alpha[q, i] and E[q, k] the exponential factors of cubic.exp_bounds:

        P[q, k, j] >= E[q, k] (u_q(j) + e(k, j) + max_{i < K-1} p(i, j))     (mixture: any non-query position)
        X[q, i, k, j] >= alpha[q, i] E[q, k] (u_q(j) + e(k, j) + p(i, j))    (position-aware, formed on demand)
        C[q, j] >= alpha[q, K-1] E[q, q] (u_q(j) + e(q, j) + p(K-1, j))     (the query position)
    """

    def __init__(self, intervals, m: int):
        (evou_lo, evou_hi), (pvou_lo, pvou_hi), (eupu_lo, eupu_hi), (e_lo, e_hi, a_lo, a_hi) = intervals
        V, K = evou_lo.shape[0], pvou_lo.shape[0]
        self.m, self.K, self.V = m, K, V
        js = np.delete(np.arange(V), m)
        qs = np.arange(m + 1)
        with np.errstate(invalid="ignore", over="ignore"):
            ov = up(evou_hi[: m + 1, js] - evou_lo[: m + 1, m: m + 1])  # [k, j]
            self.pos = up(pvou_hi[:, js] - pvou_lo[:, m: m + 1])  # [i, j]
            direct = up(eupu_hi[qs][:, js] - eupu_lo[qs, m: m + 1])  # [q, j]
            self.token = up(direct[:, None, :] + ov[None, :, :])  # [q, k, j] >= u_q(j) + e(k, j)
            pos_nq = np.max(self.pos[: K - 1], axis=0) if K > 1 else np.zeros(len(js))
            self.e_lo, self.e_hi = e_lo[qs, : m + 1], e_hi[qs, : m + 1]
            self.a_lo, self.a_hi = a_lo[qs], a_hi[qs]
            self.P = mul_upper(self.e_lo[..., None], self.e_hi[..., None], up(self.token + pos_nq))  # [q, k, j]
            wq = up(self.token[qs, qs] + self.pos[K - 1][None, :])  # [q, j]
            cq_lo = np.maximum(down(a_lo[qs, K - 1] * e_lo[qs, qs]), 0.0)
            cq_hi = up(a_hi[qs, K - 1] * e_hi[qs, qs])
            self.C = mul_upper(cq_lo[:, None], cq_hi[:, None], wq)  # [q, j]
        self.X: dict[int, np.ndarray] = {}
        self._levels = None

    def ops(self) -> int:
        """Operations to form P and C (about 8 per entry)."""
        return 8 * (self.m + 1) * (self.m + 2) * (self.V - 1)

    def position_ops(self) -> int:
        """Operations to form X for one query (about 8 per entry)."""
        return 8 * max(1, self.K - 1) * (self.m + 1) * (self.V - 1)

    def position_table(self, qs) -> None:
        """Form X[q] for the queries qs (the position-aware argument needs it)."""
        qs = np.array(sorted(set(int(q) for q in qs) - set(self.X)), dtype=np.int64)
        if len(qs) == 0:
            return
        K = self.K
        with np.errstate(invalid="ignore", over="ignore"):
            w = up(self.token[qs][:, None, :, :] + self.pos[None, : K - 1, None, :])  # [q, i, k, j]
            w_lo = np.maximum(down(self.a_lo[qs, : K - 1, None] * self.e_lo[qs][:, None, :]), 0.0)  # [q, i, k]
            w_hi = up(self.a_hi[qs, : K - 1, None] * self.e_hi[qs][:, None, :])
            table = mul_upper(w_lo[..., None], w_hi[..., None], w)
        for row, q in enumerate(qs.tolist()):
            self.X[q] = table[row]

    def certified(self, qs: np.ndarray, bins: tuple, position_aware: bool) -> np.ndarray:
        """For each q in qs: True when every j != m has an upper bound < 0 over the node (q, m, bins)."""
        K, m = self.K, self.m
        counts = [n for n, _ in bins]
        r = K - 1 - sum(counts)
        with np.errstate(invalid="ignore", over="ignore"):
            if position_aware:
                self.position_table(qs)
                X = np.stack([self.X[int(q)] for q in qs])  # [q, i, k, j]
                costs = [(r, X[:, :, m, :])]  # positions holding m
                lo = 0
                for n, hi in bins:
                    if n > 0:
                        costs.append((n, np.max(X[:, :, lo:hi, :], axis=2)))  # the bin's worst token, per position
                    lo = hi
            else:
                al, ah = self.a_lo[qs, None, : K - 1, None], self.a_hi[qs, None, : K - 1, None]  # [q, 1, i, 1]
                worst = [(r, self.P[qs, m, :])]
                lo = 0
                for n, hi in bins:
                    if n > 0:
                        worst.append((n, np.max(self.P[qs, lo:hi, :], axis=1)))  # the bin's worst token [q, j]
                    lo = hi
                # mul_upper is non-decreasing in its last argument, so the bin's worst P bounds every token
                stacked = mul_upper(al, ah, np.stack([p for _, p in worst], axis=1)[:, :, None, :])  # [q, t, i, j]
                costs = [(n, stacked[:, t]) for t, (n, _) in enumerate(worst)]
            # any assignment of the types to positions: sum_i base_i + sum over the other types of their
            # (cost - base) at their positions <= sum_i base_i + sum over the other types of their n largest
            base_index = max(range(len(costs)), key=lambda t: costs[t][0])
            base = costs[base_index][1]
            total = self.C[qs]
            finite = np.ones(total.shape, dtype=bool)
            for i in range(K - 1):
                total = up(total + base[:, i, :])
            for t, (n, cost) in enumerate(costs):
                if t == base_index or n == 0:
                    continue
                delta = up(cost - base)
                finite &= np.all(np.isfinite(delta), axis=1)  # a NaN would escape the sort below
                delta = -np.sort(-delta, axis=1)  # descending over positions
                for i in range(n):
                    total = up(total + delta[:, i, :])
            return np.all(finite & np.isfinite(total) & (total < 0), axis=1)


    def range_levels(self) -> np.ndarray:
        """levels[l, q, k, j] = max of P[q, k : k + 2^l, j] (a sparse table over k; -inf past the end)."""
        if self._levels is None:
            levels = [self.P]
            while 2 ** len(levels) <= self.m + 1:
                step = 2 ** (len(levels) - 1)
                prev = levels[-1]
                levels.append(np.concatenate([np.maximum(prev[:, :-step], prev[:, step:]),
                                              np.full_like(prev[:, :step], -np.inf)], axis=1))
            self._levels = np.stack(levels)
        return self._levels

    def range_ops(self) -> int:
        """Operations to form the sparse table of P."""
        return (self.m + 1) ** 2 * (self.V - 1) * max(0, (self.m + 1).bit_length() - 1)

    def certified_sorted(self, qs: np.ndarray, lows: np.ndarray, highs: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """The sorted mixture bound for a batch of nodes of this m: node n has query qs[n] and, for each type t,
        counts[n, t] non-query positions holding tokens of [lows[n, t], highs[n, t]) (the m-type is [m, m+1));
        the counts of a node add up to K - 1. True where every j != m has an upper bound < 0 over the node."""
        counts = np.asarray(counts, dtype=np.int64)
        used = counts > 0
        lows = np.where(used, lows, self.m)
        highs = np.where(used, highs, self.m + 1)
        floor_log2 = np.array([max(0, w.bit_length() - 1) for w in range(self.m + 2)])
        level = floor_log2[highs - lows]  # 2^level <= width < 2^(level + 1)
        table = self.range_levels()
        q = np.asarray(qs, dtype=np.int64)[:, None]
        with np.errstate(invalid="ignore"):
            worst = np.maximum(table[level, q, lows], table[level, q, highs - 2 ** level])  # [n, t, j]
        return self.sorted_certified(qs, worst, counts)

    def sorted_certified(self, qs: np.ndarray, worst: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """True where C[q, j] + sum_s mul_upper(a_lo sorted[s], a_hi sorted[s], v[s]) < 0 for every j != m, with
        v the types' worst P (worst[n, t, j], type t on counts[n, t] positions) one per non-query position,
        sorted descending (the rearrangement inequality, docs/proofs/branch-and-bound.md)."""
        K = self.K
        q = np.asarray(qs, dtype=np.int64)
        with np.errstate(invalid="ignore", over="ignore"):
            slot_type = (np.cumsum(counts, axis=1)[:, None, :] <= np.arange(K - 1)[None, :, None]).sum(axis=2)
            slots = np.take_along_axis(worst, slot_type[:, :, None], axis=1)  # [n, K-1, j]: one type per position
            finite = np.all(np.isfinite(slots), axis=(1, 2))  # a NaN would escape the sort
            slots = -np.sort(-slots, axis=1)  # descending over positions
            a_lo = -np.sort(-self.a_lo[q, : K - 1], axis=1)  # [n, K-1], each descending
            a_hi = -np.sort(-self.a_hi[q, : K - 1], axis=1)
            total = self.C[q]
            for s in range(K - 1):
                total = up(total + mul_upper(a_lo[:, s, None], a_hi[:, s, None], slots[:, s, :]))
            return finite & np.all(np.isfinite(total) & (total < 0), axis=1)


def sorted_types(K: int, node: Node) -> list[tuple[int, int, int]]:
    """(low, high, count) of the node's types: the m-type [m, m+1) and its bins, for `certified_sorted`."""
    _, m, bins = node
    return [(m, m + 1, K - 1 - sum(n for n, _ in bins))] + bins_of(node)


def sorted_ops(K: int, V: int, node: Node) -> int:
    """Operations the checker counts for one leaf of the sorted mixture bound (range maxima, gather, sort,
    products and sums, per wrong output)."""
    types = 1 + len(node[2])
    return (V - 1) * (2 * types + (K - 1) * (4 + max(1, (K - 1).bit_length())) + 2)


def certify_ops(K: int, V: int, node: Node, position_aware: bool) -> int:
    """Operations the checker counts for one certified leaf (range maxima, products, differences, sort, sums)."""
    types = 1 + sum(1 for n, _ in node[2] if n > 0)
    width = sum(hi - lo for lo, hi, n in bins_of(node) if n > 0)
    sort = (K - 1) * max(1, (K - 1).bit_length())
    maxima = (K - 1) * width if position_aware else width + 2 * types * (K - 1)
    return (V - 1) * (maxima + (types - 1) * (2 * (K - 1) + sort) + 2 * K)


def node_types(K: int, node: Node) -> list[tuple[int, int, int]]:
    """(lo, hi, n) of the node's types that occur: the max token [m, m+1) on the r = K-1-sum n_t positions not
    in a bin (listed even when r = 0, as the type of index 0), then each bin with n > 0, in bin order."""
    m = node[1]
    return [(m, m + 1, K - 1 - sum(n for n, _ in node[2]))] + [b for b in bins_of(node) if b[2] > 0]


def placements(K: int, node: Node) -> int:
    """Number of ways to place the node's types on the K-1 non-query positions: (K-1)! / prod n_t!."""
    counts = [n for _, _, n in node_types(K, node)]
    return factorial(K - 1) // prod(factorial(n) for n in counts)


def enumeration_rows(K: int) -> int:
    """Inputs per enumerated chunk and per fast-path batch: ENUM_CHUNK, fewer for long contexts (each input is a
    row of K-1 tokens; a chunk's arrays stay within about ENUM_ENTRIES entries)."""
    return max(1, min(ENUM_CHUNK, ENUM_ENTRIES // max(1, K - 1)))


def iter_node_inputs(K: int, node: Node, chunk: int | None = None):
    """Every input of the node, each once, as int arrays [<= chunk, K-1] of non-query tokens (the query is
    node[0]; the arrays are column-major, a position's tokens contiguous). Input number r is placement r // W
    (the placements of the types on the positions in lexicographic order of their type indices) with the token
    combination r % W in mixed radix (the last position varying fastest), W = prod_t width_t^n_t the same for
    every placement. A chunk is unranked at once: O(K T) numpy operations per chunk, none per input."""
    types = node_types(K, node)
    L = K - 1
    counts = [n for _, _, n in types]
    lows = np.array([lo for lo, _, _ in types], dtype=np.int64)
    widths = np.array([hi - lo for lo, hi, _ in types], dtype=np.int64)
    n_placements = placements(K, node)
    per = prod(int(w) ** n for w, n in zip(widths.tolist(), counts))  # token combinations per placement
    chunk = enumeration_rows(K) if chunk is None else chunk
    # int64 unless a rank or a product of the unranking could pass 2^62 (then exact Python ints)
    dtype = np.int64 if max(n_placements * max(1, L), per + chunk) < 1 << 62 else object
    for start in range(0, n_placements * per, chunk):
        stop = min(n_placements * per, start + chunk)
        first = start // per  # the chunk's first placement
        index = np.arange(start - first * per, stop - first * per, dtype=dtype)  # r - first * per
        pattern = _placements_from(counts, n_placements, first, int((stop - 1) // per - first + 1), dtype)
        pattern = np.take(pattern, (index // per).astype(np.int64), axis=1)  # [L, rows]: each position's type
        toks = np.ascontiguousarray(lows[pattern])
        digits = index % per
        for i in range(L - 1, -1, -1) if per > 1 else ():
            width = widths[pattern[i]]
            toks[i] += (digits % width).astype(np.int64)
            digits = digits // width
        yield toks.T


def _placements_from(counts: list[int], total: int, first: int, n: int, dtype) -> np.ndarray:
    """The placements of ranks first .. first + n - 1 (lexicographic) of the multiset with counts[t] copies of
    type t (total = their number, the multinomial), as type indices [sum(counts), n] (position-major). Position
    by position, with `ways` completions of a row's prefix and `left[t]` its unplaced copies of type t,
    ways * left[t] / (positions left) completions put type t next (exact integers, adding up to ways): the row
    takes the first type whose range of ranks holds its rank, and its rank becomes the rank within that range."""
    L, T = sum(counts), len(counts)
    left = [np.full(n, c, dtype=dtype) for c in counts]
    ways = np.full(n, total, dtype=dtype)
    rank = np.arange(first, first + n, dtype=dtype)  # among the completions of the row's prefix, from 0
    out = np.zeros((L, n), dtype=np.int64)
    for i in range(L):
        looking = None  # the rows whose type at position i is after t (None: all of them)
        rest = ways  # a row's completions from its type on: its type's share once found, else what is left
        for t in range(T - 1):
            split = ways * left[t] // (L - i)  # completions with type t at position i
            here = rank < split if looking is None else looking & (rank < split)
            passed = ~here if looking is None else looking & ~here
            left[t] -= here
            rank = np.where(passed, rank - split, rank)
            rest = np.where(passed, rest - split, np.where(here, split, rest))
            out[i] += passed
            looking = passed
        left[T - 1] -= 1 if looking is None else looking  # the rows left take the last type, with the rest
        ways = rest
    return out


def node_inputs(K: int, node: Node) -> np.ndarray:
    """Every input of the node as one int array [size, K-1] (for small nodes)."""
    blocks = list(iter_node_inputs(K, node))
    return np.concatenate(blocks) if blocks else np.zeros((0, K - 1), np.int64)


def enumerate_ops(cfg: ModelConfig, size: int) -> int:
    """Fast-path operations for `size` enumerated inputs (as brute force counts them)."""
    return size * (2 * cfg.n_ctx * cfg.d_vocab + 2 * cfg.d_vocab)


def _enumerated_counts(tables: MaxOfKTables, leaves: list, stats: dict) -> dict[int, int]:
    """Proven-correct inputs per enumerated leaf (row index -> count), brute force's evaluator, by query. The
    inputs of a query's leaves are decided in batches of up to enumeration_rows(K) (each input's verdict is its own)."""
    K = tables.config.n_ctx
    exact = ExactEvaluator(tables)
    float_tables = fast_path_tables(tables)
    out = {}
    by_query = defaultdict(list)
    for index, node in leaves:
        by_query[node[0]].append((index, node))
    for q, group in sorted(by_query.items()):
        fast = query_fast_path(tables, q, exact, float_tables)
        batch: list[np.ndarray] = []
        owners: list[np.ndarray] = []  # for each input of the batch, its leaf's position in group
        batched = 0  # inputs in batch

        def decide() -> None:
            nonlocal batched
            toks, owner = np.concatenate([b.T for b in batch], axis=1).T, np.concatenate(owners)  # column-major
            batch.clear()
            owners.clear()
            batched = 0
            if fast is None:
                verdict = np.full(len(toks), -1, np.int8)
            else:
                verdict = fast.verdicts(toks)
                stats["ops"] += fast.ops(len(toks))
            for position, correct in enumerate(np.bincount(owner[verdict == 1], minlength=len(group)).tolist()):
                out[group[position][0]] += correct
            undecided = np.flatnonzero(verdict < 0)
            if len(undecided):
                charge(len(undecided) * exact_input_work(tables.config),
                       "branch-and-bound: enumerated inputs the float path cannot decide go to the exact path")
            for i in undecided.tolist():
                stats["exact_path"] += 1
                out[group[owner[i]][0]] += exact.correct(tuple(toks[i].tolist()) + (q,)) is True

        out.update((index, 0) for index, _ in group)  # a batch may be decided before later leaves are reached
        for position, (index, node) in enumerate(group):
            for chunk in iter_node_inputs(K, node):
                if batched + len(chunk) > enumeration_rows(K):
                    decide()
                batch.append(chunk)
                owners.append(np.full(len(chunk), position))
                batched += len(chunk)
        if batch:
            decide()
    stats["ops"] += exact.arb_ops
    return out


def table_intervals(tables: MaxOfKTables):
    """Float enclosures of EVOU, PVOU, EUPU and of the exponential factors (shared by every MaxBounds)."""
    return (dyadic_interval(tables.evou), dyadic_interval(tables.pvou), dyadic_interval(tables.eupu),
            exp_bounds(tables))


def failing_sorted(bounds: MaxBounds, leaves: list, chunk: int = 4096) -> list:
    """The (row index, node) of the leaves (all of max bounds.m) that the sorted mixture bound does not certify."""
    K = bounds.K
    failing = []
    for start in range(0, len(leaves), chunk):
        part = leaves[start: start + chunk]
        width = max(len(node[2]) for _, node in part) + 1
        types = np.array([sorted_types(K, node) + [(bounds.m, bounds.m + 1, 0)] * (width - 1 - len(node[2]))
                          for _, node in part], dtype=np.int64)  # [n, t, (low, high, count)]
        ok = bounds.certified_sorted(np.array([node[0] for _, node in part]), types[..., 0], types[..., 1],
                                     types[..., 2])
        failing += [leaf for leaf, good in zip(part, ok) if not good]
    return failing


MAX_CONTEXT = 1025  # node sizes are multinomials of n_ctx - 1, computed exactly for every row: kept cheap


def check(cert, tables: MaxOfKTables, progress=None) -> SchemaResult:
    """Branch and bound: accuracy >= (sum over leaves of their proven-correct inputs) / d_vocab^K."""
    if tables.config.n_ctx > MAX_CONTEXT:
        raise Rejected(f"branch-and-bound v1 handles n_ctx up to {MAX_CONTEXT}, this model has {tables.config.n_ctx}")
    w = dict(cert.witness)
    rows = w.pop("nodes", None)
    if w:
        raise Rejected(f"unknown witness entries for branch-and-bound: {sorted(w)}")
    if not isinstance(rows, list):
        raise Rejected("witness nodes must be a vector of node rows (strings)")
    cfg = tables.config
    V, K = cfg.d_vocab, cfg.n_ctx
    leaves = walk(cfg, rows)
    stats = {"ops": table_ops(cfg) + 2 * V * (V + K), "exact_path": 0}
    counts = {"certified": 0, "enumerated": 0, "given up": 0}
    correct = 0
    certify_groups = defaultdict(list)  # (m, bins, position-aware) -> [(row index, q)]
    sorted_leaves = defaultdict(list)  # m -> [(row index, node)] of the sorted mixture bound
    enumerate_leaves = []
    for index, kind, claimed, node in leaves:
        size = node_size(K, node)
        counts[KINDS[kind]] += size
        if kind in CERTIFIED_KINDS:
            if claimed != size:
                raise Rejected(f"node {index} {describe(node)}: certified leaf says {claimed} inputs, it has {size}")
            if kind == CERTIFIED_SORTED:
                sorted_leaves[node[1]].append((index, node))
                stats["ops"] += sorted_ops(K, V, node)
            else:
                certify_groups[(node[1], node[2], kind == CERTIFIED_POSITIONS)].append((index, node[0]))
                stats["ops"] += certify_ops(K, V, node, kind == CERTIFIED_POSITIONS)
            correct += size
        elif kind == ENUMERATED:
            enumerate_leaves.append((index, node))
        elif claimed != 0:
            raise Rejected(f"node {index} {describe(node)}: a given-up leaf counts 0 inputs, it says {claimed}")
    intervals = table_intervals(tables) if certify_groups or sorted_leaves else None
    by_m = defaultdict(list)
    for (m, bins, position_aware), members in certify_groups.items():
        by_m[m].append((bins, position_aware, members))
    ms = sorted(set(by_m) | set(sorted_leaves))
    for done, m in enumerate(ms):
        bounds = MaxBounds(intervals, m)
        stats["ops"] += bounds.ops()
        groups = by_m.get(m, [])
        needed = {q for bins, position_aware, members in groups if position_aware for _, q in members}
        bounds.position_table(sorted(needed))
        stats["ops"] += len(needed) * bounds.position_ops()
        for bins, position_aware, members in groups:
            ok = bounds.certified(np.array([q for _, q in members]), bins, position_aware)
            for (index, q), good in zip(members, ok):
                if not good:
                    raise Rejected(f"node {index} {describe((q, m, bins))}: not certified (some wrong output's "
                                   f"{'position-aware' if position_aware else 'mixture'} bound is not < 0)")
        if sorted_leaves.get(m):
            stats["ops"] += bounds.range_ops()
            for index, node in failing_sorted(bounds, sorted_leaves[m]):
                raise Rejected(f"node {index} {describe(node)}: not certified (some wrong output's sorted mixture "
                               "bound is not < 0)")
        if progress is not None:
            progress(done + 1, len(ms))
    for index, proven in _enumerated_counts(tables, enumerate_leaves, stats).items():
        claimed = _row_node(rows[index])[1]
        if proven != claimed:
            raise Rejected(f"node {index} {describe(_row_node(rows[index])[3])}: enumerated leaf says {claimed} "
                           f"correct inputs, the checker proves {proven}")
        correct += proven
    total = V ** K
    return SchemaResult(
        bound=Fraction(correct, total),
        proof_length=stats["ops"],
        complexity_class="exponential" if 2 * enumerate_ops(cfg, counts["enumerated"]) > stats["ops"] else "quartic",
        complexity="d_vocab^4 n_ctx (tables) + certified leaves + enumerated inputs * n_ctx * d_vocab",
        unexplained_dimension=3 * V ** 2 + 2 * V * K + counts["enumerated"] * V,
        details={"nodes": len(rows), "leaves": len(leaves), "inputs_certified": counts["certified"],
                 "inputs_enumerated": counts["enumerated"], "inputs_given_up": counts["given up"],
                 "exact_path": stats["exact_path"]},
    )


ROW_STEPS = 10  # interpreted steps per row (parsing, the walk, grouping)
# The enumeration (iter_node_inputs, _placements_from) and the fast path's calls for one chunk of an enumerated
# leaf: numpy calls per position and type of the unranking, and per position for the tokens and the fast path.
UNRANK_STEPS, CHUNK_STEPS = 8, 16
# Element operations, in the budget's unit, per (placement, position, type) of the unranking and per (input,
# position) to gather the tokens (a 2^14 x 300 chunk of two types: about 30 ns and 5 ns on one core).
UNRANK_WORK, TOKEN_WORK = 2, 1


def enumeration_work(config: ModelConfig, node: Node) -> int:
    """Work of deciding every input of an enumerated leaf on the fast path: its operations (enumerate_ops), the
    unranking of its placements, the token arrays, and the interpreted steps of each chunk."""
    K, L = config.n_ctx, config.n_ctx - 1
    size, n_types = node_size(K, node), len(node_types(K, node))
    chunks = -(-size // enumeration_rows(K))
    unranked = placements(K, node) + chunks  # a chunk unranks its placements, one of them maybe also the last's
    return (enumerate_ops(config, size) + UNRANK_WORK * L * n_types * unranked + TOKEN_WORK * L * size
            + PY_STEP_WORK * chunks * L * (UNRANK_STEPS * n_types + CHUNK_STEPS))


def estimate(config: ModelConfig, witness: dict, params: dict | None = None) -> tuple[int, int]:
    """(work, peak memory bytes) from the header, the weights' bit lengths and the witness's shape, without
    checking: the tables (table_estimate), the operations the check counts except the exact path's arb
    operations (charged when known, as brute force does), plus the interpreted steps per row and the
    enumeration's work per enumerated leaf (enumeration_work)."""
    V, K = config.d_vocab, config.n_ctx
    rows = witness.get("nodes")
    ops, peak = table_estimate(config, params)
    ops += (2 + ARB_OP_WORK) * V * (V + K)  # the exponential factors
    peak += 8 * 16 * V * V  # float enclosures of the tables
    if not isinstance(rows, list) or K > MAX_CONTEXT:  # the check rejects such a witness or model at once
        return ops, peak
    ms, position_qs, range_ms = set(), set(), set()
    for row in rows:
        try:
            kind, _, _, node = _row_node(row)
        except ValueError:
            continue
        if not (node[1] < V and sum(n for n, _ in node[2]) <= K - 1 and all(hi <= V for _, hi in node[2])):
            continue  # not a node of this model (the check rejects it); keeps the counting cheap
        if kind == CERTIFIED_SORTED:
            ops += sorted_ops(K, V, node)
            ms.add(node[1])
            range_ms.add(node[1])
        elif kind in (CERTIFIED, CERTIFIED_POSITIONS):
            ops += certify_ops(K, V, node, kind == CERTIFIED_POSITIONS)
            ms.add(node[1])
            if kind == CERTIFIED_POSITIONS:
                position_qs.add((node[0], node[1]))
        elif kind == ENUMERATED:
            ops += enumeration_work(config, node)
    ops += PY_STEP_WORK * ROW_STEPS * len(rows)
    ops += sum(8 * (m + 1) * (m + 2) * (V - 1) for m in ms)
    ops += sum(8 * max(1, K - 1) * (m + 1) * (V - 1) for _, m in position_qs)
    ops += sum((m + 1) ** 2 * (V - 1) * max(0, (m + 1).bit_length() - 1) for m in range_ms)
    if ms:
        peak += 8 * 8 * V * V * V + 8 * 4 * V * max(1, K - 1) * V * V  # P, X for every query, temporaries
    if range_ms:
        peak += 8 * V ** 3 * max(1, V.bit_length()) + 8 * 4096 * (V + 2 * K) * V  # sparse table, one chunk
    # one chunk of enumerated inputs: the unranking's arrays, the token arrays and their batch, the fast path's
    return ops, peak + 8 * enumeration_rows(K) * (8 * (K + 2) + 8 * V)
