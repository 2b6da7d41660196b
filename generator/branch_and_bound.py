"""The branch-and-bound search: which nodes to split, certify, enumerate or give up.

The tree for a size threshold S is a function of S alone: every uncertified node larger than S (and
larger than the enumeration limit E) is split (its widest bin, at the middle); uncertified nodes of at
most E inputs, or that cannot be split, are enumerated (when at most `MAX_UNSPLITTABLE` inputs); the rest
are given up. A smaller S refines the tree only by replacing given-up leaves (0 correct inputs, no cost)
with subtrees, so both the bound and the proof length are non-increasing in S. For a budget, the search
takes the smallest S of the grid (powers of 2) whose proof length fits: a larger budget never gives a
smaller bound. Certification is decided with the checker's own bound (`MaxBounds`), so what the search
counts as certified is exactly what the checker accepts.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import accumulate

import numpy as np

from checker.maxofk import MaxOfKTables, table_ops
from checker.schemas.branch_and_bound import (CERTIFIED, CERTIFIED_POSITIONS, ENUMERATED, GIVEN_UP, SPLIT, MaxBounds,
                                              _enumerated_counts, bins_of, certify_ops, children, enumerate_ops,
                                              node_row, node_size, roots, table_intervals)

ENUM_LIMIT = 32  # uncertified nodes of at most this many inputs are enumerated
MAX_UNSPLITTABLE = 1 << 12  # an uncertified node that cannot be split is enumerated up to this size
MIN_NODES, TOTAL_NODES = 500, 100_000  # nodes each max token m may evaluate: MIN_NODES + its share of TOTAL_NODES
# by input mass (generator time only: a max token that reaches its cap keeps its last tree at finer levels)
ENUMERABLE = 1 << 25  # models with at most this many inputs (exact target): enumerate more, evaluate more nodes
SMALL_ENUM_LIMIT, SMALL_MIN_NODES, SMALL_TOTAL_NODES = 512, 20_000, 1_000_000


def _split_choice(node) -> tuple[int, int] | None:
    """The widest bin holding tokens (width >= 2) and its middle, or None if no bin can be split."""
    best = None
    for index, (lo, hi, n) in enumerate(bins_of(node)):
        if n > 0 and hi - lo >= 2 and (best is None or hi - lo > best[0]):
            best = (hi - lo, index, (lo + hi) // 2)
    return None if best is None else best[1:]


class MaxSearch:
    """The search tree for one max token m, refined level by level (level l: threshold levels[l])."""

    def __init__(self, tables: MaxOfKTables, intervals, m: int, levels: list[float], budget: float, node_cap: int,
                 enum_limit: int):
        cfg = tables.config
        self.cfg, self.V, self.K, self.m = cfg, cfg.d_vocab, cfg.n_ctx, m
        self.open: list = []  # uncertified nodes that can still be split
        self.bounds = MaxBounds(intervals, m)
        self.bounds.position_table(range(m + 1))  # the search may try the position-aware bound anywhere
        self.position_qs: set[int] = set()  # queries with a position-aware leaf (their X enters the cost)
        self.info: dict = {}  # node -> (state, level, split) with state certified|enumerated|open|split
        self.cost = []  # proof length of this m's part of the tree at each computed level
        self.evaluated = 0
        self.node_cap, self.enum_limit = node_cap, enum_limit
        self.over_budget = False  # True when the last computed level's cost alone exceeds the budget
        self.roots = [r for r in roots(self.V, self.K) if r[1] == m]
        self._cost = 0
        self._has_certified = False
        self.open = self._evaluate(self.roots, 0)
        self._record()
        for level in range(1, len(levels)):
            if self.cost[-1] > budget:
                self.over_budget = True
                break
            saved = (self._cost, self._has_certified, set(self.position_qs), list(self.open))
            if not self._refine(level, levels[level]):
                self._rollback(level)
                self._cost, self._has_certified, self.position_qs, self.open = saved
                break
            self._record()

    def _record(self):
        tables = (self.bounds.ops() if self._has_certified else 0) + len(self.position_qs) * self.bounds.position_ops()
        self.cost.append(self._cost + tables)

    def _evaluate(self, nodes: list, level: int) -> list:
        """Decide each new node; returns those to split further at this level's threshold."""
        K, V = self.K, self.V
        groups = defaultdict(list)
        for node in nodes:
            groups[node[2]].append(node)
        opened = []
        for bins, members in groups.items():
            qs = np.array([n[0] for n in members])
            mixture = self.bounds.certified(qs, bins, False)
            position = self.bounds.certified(qs, bins, True) if not mixture.all() else mixture
            self.evaluated += len(members)
            for node, by_mixture, by_position in zip(members, mixture, position):
                size = node_size(K, node)
                if by_mixture or by_position:
                    self.info[node] = ("certified" if by_mixture else "positions", level, None)
                    self._cost += certify_ops(K, V, node, not by_mixture)
                    self._has_certified = True
                    if not by_mixture:
                        self.position_qs.add(node[0])
                    continue
                split = _split_choice(node)
                if size <= self.enum_limit or (split is None and size <= MAX_UNSPLITTABLE):
                    self.info[node] = ("enumerated", level, None)
                    self._cost += enumerate_ops(self.cfg, size)
                else:
                    self.info[node] = ("open", level, split)
                    if split is not None:
                        opened.append(node)
        return opened

    def _refine(self, level: int, threshold: float) -> bool:
        """Split every open node larger than the threshold (recursively); False if the node cap was hit."""
        todo = [n for n in self.open if node_size(self.K, n) > threshold]
        self.open = [n for n in self.open if node_size(self.K, n) <= threshold]
        while todo:
            new = []
            for node in todo:
                split = self.info[node][2]
                self.info[node] = ("split", level, split)
                new.extend(children(node, *split))
            if self.evaluated + len(new) > self.node_cap:
                return False
            opened = self._evaluate(new, level)
            todo = [n for n in opened if node_size(self.K, n) > threshold]
            self.open += [n for n in opened if node_size(self.K, n) <= threshold]
        return True

    def _rollback(self, level: int) -> None:
        """Forget the partial refinement of `level` (the node cap stopped it): the tree stays at level - 1."""
        for node, (state, at, split) in list(self.info.items()):
            if at == level and state != "split":
                del self.info[node]
        for node, (state, at, split) in list(self.info.items()):
            if at == level:  # split at this level: open again
                self.info[node] = ("open", at, split)

    def level_of(self, level: int) -> int:
        """The level of this m's tree that the global `level` uses (frozen at the last one computed)."""
        return min(level, len(self.cost) - 1)

    def visit(self, level: int):
        """(node, state, split) for every node of this m's trees at `level`, in preorder, roots in order; a node
        split at a later level is a leaf in its own state."""
        for root in self.roots:
            stack = [root]
            while stack:
                node = stack.pop()
                state, at, split = self.info[node]
                if state == "split" and at > level:
                    state = "open"
                yield node, state, split
                if state == "split":
                    stack.extend(reversed(children(node, *split)))

    def rows(self, level: int, enumerated_counts: dict) -> list[str]:
        """The witness rows of this m's trees at `level` (preorder, roots in order)."""
        out = []
        for node, state, split in self.visit(level):
            if state == "split":
                out.append(node_row(SPLIT, split[0], split[1], node))
            elif state in ("certified", "positions"):
                kind = CERTIFIED if state == "certified" else CERTIFIED_POSITIONS
                out.append(node_row(kind, node_size(self.K, node), 0, node))
            elif state == "enumerated":
                out.append(node_row(ENUMERATED, enumerated_counts[node], 0, node))
            else:
                out.append(node_row(GIVEN_UP, 0, 0, node))
        return out

    def enumerated(self, level: int) -> list:
        """The enumerated leaves of the tree at `level`."""
        return [node for node, state, _ in self.visit(level) if state == "enumerated"]


def _search_all(tables: MaxOfKTables, limit: float, progress: bool):
    """Every max token's search, the global levels, and the finest level whose proof length fits `limit`."""
    cfg = tables.config
    V, K = cfg.d_vocab, cfg.n_ctx
    small = V ** K <= ENUMERABLE
    enum_limit = SMALL_ENUM_LIMIT if small else ENUM_LIMIT
    min_nodes, total_nodes = (SMALL_MIN_NODES, SMALL_TOTAL_NODES) if small else (MIN_NODES, TOTAL_NODES)
    largest = max(node_size(K, r) for r in roots(V, K))
    levels = [float("inf")] + [float(2 ** e) for e in range(largest.bit_length(), enum_limit.bit_length() - 2, -1)]
    intervals = table_intervals(tables)
    base = table_ops(cfg) + 2 * V * (V + K)
    searches = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=V, desc="branch and bound (search)", unit="max", leave=False)
    total = V ** K
    for m in range(V):
        mass = sum(node_size(K, r) for r in roots(V, K) if r[1] == m)
        cap = min_nodes + total_nodes * mass // total
        searches.append(MaxSearch(tables, intervals, m, levels, limit - base, cap, enum_limit))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    # global level L uses each m's tree at min(L, its last level); an m over the budget at level l bars L >= l
    deepest = min([len(s.cost) - 1 for s in searches if s.over_budget] + [len(levels) - 1])
    costs = [base + sum(s.cost[s.level_of(L)] for s in searches) for L in range(deepest + 1)]
    level = -1  # -1: every root given up
    for candidate, cost in enumerate(costs):
        if cost > limit:
            break
        level = candidate
    return searches, levels, costs, level, base


def search(tables: MaxOfKTables, budget: float | None = None, progress: bool = False) -> tuple[dict, dict]:
    """The witness of the finest tree whose proof length (without exact-path arb operations) fits the
    budget (None: no limit; the search then stops at the exact tree or where the node caps stop it)."""
    limit = float("inf") if budget is None else float(budget)
    return witness_of(tables, _search_all(tables, limit, progress))


def witness_of(tables: MaxOfKTables, searched) -> tuple[dict, dict]:
    """The witness (and search statistics) of the level that `_search_all` chose."""
    searches, levels, costs, level, base = searched
    enumerated = [n for s in searches for n in s.enumerated(s.level_of(level))] if level >= 0 else []
    stats = {"ops": 0, "exact_path": 0}
    counts = _enumerated_counts(tables, list(enumerate(enumerated)), stats)
    by_node = {enumerated[i]: c for i, c in counts.items()}
    rows = []
    for s in searches:
        rows += s.rows(s.level_of(level), by_node) if level >= 0 else [node_row(GIVEN_UP, 0, 0, r) for r in s.roots]
    info = {"level": level, "levels": len(levels), "threshold": levels[level] if level >= 0 else None,
            "nodes": len(rows), "evaluated": sum(s.evaluated for s in searches),
            "predicted_ops": costs[level] if level >= 0 else base}
    return {"nodes": rows}, info


def frontier(tables: MaxOfKTables, budget: float | None = None, searched=None) -> list[tuple[int, int]]:
    """(proof length without arb operations, proven-correct inputs) of the tree at every level up to the
    budget's: the bound against proof length that --budget can reach (one search, exact counts)."""
    limit = float("inf") if budget is None else float(budget)
    searches, _, costs, level, _ = searched or _search_all(tables, limit, False)
    K = tables.config.n_ctx
    leaves = [(node, s.info[node][1]) for s in searches for node in s.info
              if s.info[node][0] in ("certified", "positions", "enumerated")]
    enumerated = [node for node, _ in leaves if searches[node[1]].info[node][0] == "enumerated"]
    proven = _enumerated_counts(tables, list(enumerate(enumerated)), {"ops": 0, "exact_path": 0})
    value = {enumerated[i]: c for i, c in proven.items()}
    gains = [[0] * len(s.cost) for s in searches]  # proven-correct inputs of the leaves made at each level
    for node, created in leaves:
        gains[node[1]][created] += value.get(node, node_size(K, node))
    cumulative = [list(accumulate(g)) for g in gains]
    return [(costs[L], sum(c[s.level_of(L)] for s, c in zip(searches, cumulative))) for L in range(level + 1)]
