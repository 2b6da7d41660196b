"""The branch-and-bound search: a sequence of steps, ordered by certified mass per checker operation.

Every root is screened first: the ones that one of the checker's bounds certifies are certified by a step each,
the others are given up. In the "roots first" order the steps certifying roots come first (largest first); in
the "by rate" order they compete with the other steps by inputs per operation. Each other step takes a given-up
leaf and either splits it (its children are certified where the checker's bound says so, the others stay given
up) or enumerates it. A given-up root (q, m, c) is split at its certification boundary, the largest
cut b for which "all c tokens below b" is certified (cubic's initial-segment cases are of this form); other nodes
at 9/10 of their widest bin. The step taken next is the one with the highest expected gain per operation
(a heap): a split is worth `size / ((children) * leaf cost)`, an enumeration `1 / (operations per input)`;
a node is enumerated when that is the better of the two (or it cannot be split). A budget only stops the
sequence earlier (the search stops at it, or at its evaluation cap, which grows with it): a shorter search's
steps are a prefix of a longer one's. A step only replaces a given-up leaf (0 inputs, no cost) by a subtree, so
along the sequence the proof length and the bound never decrease; for a budget the search takes the longest
prefix whose proof length fits. Hence a larger budget never gives a smaller bound. With a budget, `search` takes the better of the
two orders' prefixes: a maximum of two non-decreasing functions of the budget is non-decreasing, and a budget
that covers every root step of the "roots first" order gives at least the roots' bound. (The order by rate is
the better anytime bound where large roots are given up and their splits certify more per operation than the
small certified roots; roots first wins where the splits' expected gains are optimistic.)

Certification is decided in torch, on the GPU when there is one (`SortedScreen`): the same float64 operations as
the checker's sorted mixture bound (`MaxBounds.sorted_certified`), in the same order, so the verdicts are the
checker's bit for bit and the search counts exactly what the checker accepts (tests/test_branch_and_bound.py
compares the two). The rarer root arguments (kinds 1 and 4) call the checker's functions directly.
"""

from __future__ import annotations

import heapq
import time
from collections import defaultdict
from itertools import accumulate

import numpy as np
import torch

from checker.maxofk import MaxOfKTables, table_ops
from checker.schemas.branch_and_bound import (CERTIFIED, CERTIFIED_POSITIONS, CERTIFIED_SORTED, ENUMERATED, GIVEN_UP,
                                              SPLIT, MaxBounds, _enumerated_counts, bins_of, certify_ops, children,
                                              enumerate_ops, node_row, node_size, roots, sorted_ops, sorted_types,
                                              table_intervals)
from generator.model import pick_device

MAX_UNSPLITTABLE = 1 << 16  # a node that cannot be split is enumerated up to this size, else given up
ENUM_PREFERENCE = 4.0  # enumerate when its gain per operation is at least 1/ENUM_PREFERENCE of a split's
WAVE = 2048  # nodes taken from the heap at once (their children are evaluated in one batch)
MAX_EVALUATED = 500_000  # nodes the search may evaluate (generator time; a constant: the sequence is the model's)
# With a proof-length limit L the search evaluates at most (roots) + L / (leaf cost) nodes: a split whose children
# all fail costs no proof length, so the limit alone does not bound the search's time. The cap only grows with L,
# and a search stopped earlier has a prefix of the longer one's steps, so the bound stays non-decreasing in L.
CUT_FRACTION = 0.9  # a bin is cut at 9/10 of its width: the tokens just below m are the ones that spoil it
SCREEN_ELEMENTS = 1 << 22  # float64 entries of one batch of the torch screen (32 MiB)


def split_choice(node) -> tuple[int, int] | None:
    """The widest bin holding tokens (width >= 2) and its cut, or None if no bin can be split."""
    best = None
    for index, (lo, hi, n) in enumerate(bins_of(node)):
        if n > 0 and hi - lo >= 2 and (best is None or hi - lo > best[0]):
            cut = min(hi - 1, max(lo + 1, lo + int(round((hi - lo) * CUT_FRACTION))))
            best = (hi - lo, index, cut)
    return None if best is None else best[1:]


class SortedScreen:
    """`MaxBounds.sorted_certified` for one max token m, in torch on `device`, with the types' worst values
    (maxima of P over token ranges, exact) cached per (q, low, high). Every operation is a maximum, a sort, a
    gather, or a correctly rounded float64 product or sum moved one ulp up with nextafter, as in the checker,
    and in the same order: on the CPU and on CUDA (no flush-to-zero in float64) the verdicts are the checker's."""

    def __init__(self, bounds: MaxBounds, device: torch.device):
        tensor = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64, device=device)
        K, self.m, self.device = bounds.K, bounds.m, device
        self.P, self.C = tensor(bounds.P), tensor(bounds.C)  # [q, k, j], [q, j]
        self.a_lo = torch.sort(tensor(bounds.a_lo[:, : K - 1]), dim=1, descending=True).values  # [q, K-1]
        self.a_hi = torch.sort(tensor(bounds.a_hi[:, : K - 1]), dim=1, descending=True).values
        self.positions = torch.arange(K - 1, device=device)
        self.rows: dict[tuple[int, int, int], int] = {}
        self.worst = torch.empty((64, self.P.shape[2]), dtype=torch.float64, device=device)

    def _add_ranges(self, keys: list[tuple[int, int, int]]) -> None:
        """Cache max_k P[q, k, :] over low <= k < high for each new key (q, low, high)."""
        keys = [key for key in dict.fromkeys(keys) if key not in self.rows]
        if not keys:
            return
        need = len(self.rows) + len(keys)
        if need > self.worst.shape[0]:
            grown = torch.empty((max(need, 2 * self.worst.shape[0]), self.worst.shape[1]), dtype=torch.float64,
                                device=self.device)
            grown[: len(self.rows)] = self.worst[: len(self.rows)]
            self.worst = grown
        width = max(hi - lo for _, lo, hi in keys)
        chunk = max(1, SCREEN_ELEMENTS // max(1, width * self.P.shape[2]))  # d_vocab 1: no wrong output
        offsets = torch.arange(width, device=self.device)
        for start in range(0, len(keys), chunk):
            part = torch.tensor(keys[start: start + chunk], dtype=torch.int64, device=self.device)
            q, lo, hi = part[:, 0:1], part[:, 1:2], part[:, 2:3]
            index = torch.minimum(lo + offsets, hi - 1)  # the last token repeated: the maximum is unchanged
            first = len(self.rows) + start
            self.worst[first: first + len(part)] = torch.amax(self.P[q, index], dim=1)
        for key in keys:
            self.rows[key] = len(self.rows)

    def certified(self, nodes: list, K: int) -> list[bool]:
        """The sorted mixture verdict of each node (all of max m), as `MaxBounds.sorted_certified` gives it."""
        width = 1 + max(len(node[2]) for node in nodes)
        keys, counts = [], []
        for q, m, bins in nodes:
            types = sorted_types(K, (q, m, bins)) + [(m, m + 1, 0)] * (width - 1 - len(bins))
            keys += [(q, lo, hi) if n > 0 else (q, m, m + 1) for lo, hi, n in types]
            counts.append([n for _, _, n in types])
        self._add_ranges(keys)
        rows = torch.tensor([self.rows[key] for key in keys], dtype=torch.int64, device=self.device)
        counts = torch.tensor(counts, dtype=torch.int64, device=self.device)
        qs = torch.tensor([node[0] for node in nodes], dtype=torch.int64, device=self.device)
        out = []
        chunk = max(1, SCREEN_ELEMENTS // max(1, max(width, K - 1) * self.P.shape[2]))
        inf = torch.tensor(float("inf"), dtype=torch.float64, device=self.device)
        for start in range(0, len(nodes), chunk):
            q, count = qs[start: start + chunk], counts[start: start + chunk]
            worst = self.worst[rows[start * width: (start + len(q)) * width]].view(len(q), width, -1)
            slot_type = (torch.cumsum(count, dim=1)[:, None, :] <= self.positions[None, :, None]).sum(dim=2)
            slots = torch.take_along_dim(worst, slot_type[:, :, None], dim=1)  # [n, K-1, j]
            finite = torch.isfinite(slots).all(dim=2).all(dim=1)  # a NaN would escape the sort
            slots = torch.sort(slots, dim=1, descending=True).values
            total = self.C[q]
            for s in range(K - 1):
                value = slots[:, s, :]
                factor = torch.where(value >= 0, self.a_hi[q, s, None], self.a_lo[q, s, None])
                total = torch.nextafter(total + torch.nextafter(factor * value, inf), inf)
            ok = finite & (torch.isfinite(total) & (total < 0)).all(dim=1)
            out += ok.tolist()
        return out


class Search:
    """The step sequence. `fate[node]` is ("certified", step, kind) for a node certified when it was made,
    ("split", step, (bin, cut)) or ("enumerated", step) once a step took it; other nodes are given up."""

    def __init__(self, tables: MaxOfKTables, limit: float = float("inf"), max_evaluated: int | None = None,
                 progress: bool = False, device: str | None = None, roots_first: bool = True,
                 like: Search | None = None):
        cfg = tables.config
        self.device = pick_device(device)
        self.tables, self.cfg, self.V, self.K = tables, cfg, cfg.d_vocab, cfg.n_ctx
        self.intervals = table_intervals(tables) if like is None else like.intervals
        # like: a search of the same tables whose root verdicts and (pure) per-max-token caches are reused
        self.bounds: dict[int, MaxBounds] = {} if like is None else like.bounds
        self.screens: dict[int, SortedScreen] = {} if like is None else like.screens
        self.screened = None if like is None else like.screened
        self.enumerated_counts: dict = {} if like is None else like.enumerated_counts  # node -> correct inputs
        self.charged: set = set()  # tables counted already: ("P", m), ("range", m), ("X", q, m)
        self.fate: dict = {}
        self.step_cost: list[int] = []
        self.step_gain: list[int] = []  # certified inputs (enumerated leaves are counted when written)
        self.evaluated = 0
        self.enum_per_input = enumerate_ops(cfg, 1)
        # at least 1: with d_vocab 1 (no wrong output) a leaf costs nothing, and the rates below divide by it
        self.leaf_cost = max(1, sorted_ops(self.K, self.V, (0, 0, ((0, 0),) * 2)))
        self.roots = list(roots(self.V, self.K))
        self.roots_first = roots_first
        if max_evaluated is None:  # with a limit: the roots and as many nodes as it could pay leaves for
            max_evaluated = MAX_EVALUATED if limit == float("inf") else int(
                min(MAX_EVALUATED, len(self.roots) + limit / self.leaf_cost))
        start = time.time()
        heap: list = []
        self._roots(heap)
        self.root_steps = len(self.step_cost)  # roots first: the steps of the roots; by rate: the first step only
        self.step_cost[0] += table_ops(cfg) + 2 * self.V * (self.V + self.K)
        total = sum(self.step_cost)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(desc="branch and bound (search)", unit="node", leave=False)
        while heap and total <= limit and self.evaluated < max_evaluated:
            wave = [heapq.heappop(heap) for _ in range(min(WAVE, len(heap)))]
            before = len(self.step_cost)
            self._waves(wave, heap)
            total += sum(self.step_cost[before:])
            if bar is not None:
                bar.update(len(wave))
        if bar is not None:
            bar.close()
        self.seconds = time.time() - start

    def _bounds(self, m: int) -> MaxBounds:
        if m not in self.bounds:
            self.bounds[m] = MaxBounds(self.intervals, m)
        return self.bounds[m]

    def _certified(self, nodes: list) -> list[int | None]:
        """The checker's sorted mixture verdict for each node (batched by max token): CERTIFIED_SORTED or None."""
        out: list[int | None] = [None] * len(nodes)
        by_m = defaultdict(list)
        for position, node in enumerate(nodes):
            by_m[node[1]].append(position)
        for m, positions in by_m.items():
            if m not in self.screens:
                self.screens[m] = SortedScreen(self._bounds(m), self.device)
            verdicts = self.screens[m].certified([nodes[p] for p in positions], self.K)
            for p, good in zip(positions, verdicts):
                out[p] = CERTIFIED_SORTED if good else None
        self.evaluated += len(nodes)
        return out

    def _root_arguments(self, nodes: list, verdicts: list) -> None:
        """For the roots the sorted bound does not certify, the mixture (kind 1) and position-aware (kind 4)
        bounds, grouped by (m, bins) as the checker groups them: the tree is never worse than any leaf
        argument applied to the roots."""
        groups = defaultdict(list)
        for position, (node, kind) in enumerate(zip(nodes, verdicts)):
            if kind is None:
                groups[(node[1], node[2])].append(position)
        by_m = defaultdict(list)
        for (m, bins), positions in groups.items():
            by_m[m].append((bins, positions))
        for m, members in sorted(by_m.items()):
            bounds = self._bounds(m)
            bounds.position_table(sorted({nodes[p][0] for _, positions in members for p in positions}))
            for bins, positions in members:
                qs = np.array([nodes[p][0] for p in positions])
                for kind, position_aware in ((CERTIFIED, False), (CERTIFIED_POSITIONS, True)):
                    ok = bounds.certified(qs, bins, position_aware)
                    for p, good in zip(positions, ok):
                        if good and verdicts[p] is None:
                            verdicts[p] = kind
            bounds.X.clear()  # the position tables are large for long contexts; the roots need them once

    def _action(self, node, size: int, split: tuple[int, int] | None = None
                ) -> tuple[float, str, tuple[int, int] | None] | None:
        """(gain per operation, "split" | "enumerate", the split) of the best step for a given-up node of `size`
        inputs (its split: `split`, else `split_choice`), None if none."""
        enum_rate = 1.0 / self.enum_per_input
        split = split or split_choice(node)
        if split is None:
            return (enum_rate, "enumerate", None) if size <= MAX_UNSPLITTABLE else None
        n = node[2][split[0]][0]
        split_rate = size / ((n + 1) * self.leaf_cost)
        if enum_rate * ENUM_PREFERENCE >= split_rate:
            return enum_rate, "enumerate", None
        return split_rate, "split", split

    def _charge(self, nodes: list, kinds: list) -> int:
        """Operations of the certified nodes, with each table the first time a leaf needs it (as `check` counts)."""
        cost = 0
        for node, kind in zip(nodes, kinds):
            if kind is None:
                continue
            q, m, _ = node
            bounds = self._bounds(m)
            needed = [(("P", m), bounds.ops())]
            if kind == CERTIFIED_SORTED:
                cost += sorted_ops(self.K, self.V, node)
                needed.append((("range", m), bounds.range_ops()))
            else:
                cost += certify_ops(self.K, self.V, node, kind == CERTIFIED_POSITIONS)
                if kind == CERTIFIED_POSITIONS:
                    needed.append((("X", q, m), bounds.position_ops()))
            for key, ops in needed:
                if key not in self.charged:
                    self.charged.add(key)
                    cost += ops
        return cost

    def _push(self, heap: list, node, size: int, split: tuple[int, int] | None = None) -> None:
        action = self._action(node, size, split)
        if action is not None:
            heapq.heappush(heap, (-action[0], len(self.fate) + len(heap), action[1], node, size, action[2]))

    def _roots(self, heap: list) -> None:
        """Screen the roots. Roots first: the first steps, one per certified root (by any of the checker's
        bounds), largest first. By rate: one empty first step, and the certified roots go to the heap at their
        size per operation. The other roots are given up and go to the heap."""
        nodes = self.roots
        if self.screened is None:
            kinds = self._certified(nodes)
            self._root_arguments(nodes, kinds)
            cuts = self._boundaries([node for node, kind in zip(nodes, kinds) if kind is None])
            self.screened = (kinds, cuts)
        else:  # the verdicts of another search of the same tables (the same computation)
            kinds, cuts = self.screened
            self.evaluated += len(nodes)
        sizes = [node_size(self.K, n) for n in nodes]
        certified = sorted(((sizes[i], i) for i, kind in enumerate(kinds) if kind is not None), reverse=True)
        if not self.roots_first:
            for size, i in certified:
                node, kind = nodes[i], kinds[i]
                ops = (sorted_ops(self.K, self.V, node) if kind == CERTIFIED_SORTED
                       else certify_ops(self.K, self.V, node, kind == CERTIFIED_POSITIONS))
                heapq.heappush(heap, (-size / max(1, ops), len(heap), "certify", node, size, kind))  # d_vocab 1: 0 ops
            certified = []
        for size, i in certified:
            self.fate[nodes[i]] = ("certified", len(self.step_cost), kinds[i])
            self.step_cost.append(self._charge([nodes[i]], [kinds[i]]))
            self.step_gain.append(size)
        if not certified:
            self.step_cost.append(0)
            self.step_gain.append(0)
        for node, kind, size in zip(nodes, kinds, sizes):
            if kind is None:
                self._push(heap, node, size, cuts.get(node))

    def _boundaries(self, nodes: list) -> dict:
        """For each root (q, m, c) with c >= 1, the split (0, b) at the largest b whose child "all c tokens
        below b" the sorted bound certifies, found by bisection (that child only grows as b falls: its worst
        values do not rise); roots with no such b are left out."""
        todo = {node: (0, node[1]) for node in nodes if node[2][0][0] >= 1 and node[1] >= 2}
        evaluated = self.evaluated
        while todo:
            probes = [(node, (lo + hi) // 2) for node, (lo, hi) in todo.items() if hi - lo > 1]
            if not probes:
                break
            kinds = self._certified([(q, m, ((bins[0][0], b), (0, m))) for (q, m, bins), b in probes])
            for (node, b), kind in zip(probes, kinds):
                lo, hi = todo[node]
                todo[node] = (b, hi) if kind is not None else (lo, b)
        self.evaluated = evaluated  # generator time only: the wave budget stays the same
        return {node: (0, lo) for node, (lo, _) in todo.items() if lo >= 1}

    def _waves(self, wave: list, heap: list) -> None:
        """One step per node of the wave, in heap order; the children of its splits are evaluated together."""
        made = {node: children(node, *split) for _, _, action, node, _, split in wave if action == "split"}
        flat = [child for kids in made.values() for child in kids]
        verdicts = iter(self._certified(flat))
        for _, _, action, node, size, split in wave:
            step = len(self.step_cost)
            if action == "certify":  # a certified root (order by rate), its kind in the split slot
                self.fate[node] = ("certified", step, split)
                self.step_cost.append(self._charge([node], [split]))
                self.step_gain.append(size)
                continue
            if action == "enumerate":
                self.fate[node] = ("enumerated", step)
                self.step_cost.append(enumerate_ops(self.cfg, size))
                self.step_gain.append(0)
                continue
            self.fate[node] = ("split", step, split)
            kids = [(child, next(verdicts), node_size(self.K, child)) for child in made[node]]
            self.step_cost.append(self._charge([c for c, _, _ in kids], [kind for _, kind, _ in kids]))
            self.step_gain.append(sum(size for _, kind, size in kids if kind is not None))
            for child, kind, child_size in kids:
                if kind is not None:
                    self.fate[child] = ("certified", step, kind)
                else:
                    self._push(heap, child, child_size)

    def last_step(self, limit: float) -> int:
        """The longest prefix of steps whose proof length fits `limit` (-1: not even the roots)."""
        last = -1
        for step, total in enumerate(accumulate(self.step_cost)):
            if total > limit:
                break
            last = step
        return last

    def _fruitful(self, last: int) -> set:
        """The nodes split by step `last` whose subtree holds a certified or enumerated leaf (a split without
        one is written as a given-up leaf: the same bound and proof length, fewer rows)."""
        splits = sorted(((fate[1], node) for node, fate in self.fate.items() if fate[0] == "split" and fate[1] <= last),
                        reverse=True)  # children are split after their parents
        fruitful = set()
        for _, node in splits:
            for child in children(node, *self.fate[node][2]):
                fate = self.fate.get(child)
                if child in fruitful or (fate is not None and fate[0] != "split" and fate[1] <= last):
                    fruitful.add(node)
                    break
        return fruitful

    def visit(self, last: int):
        """(node, state, detail) for every node of the tree after step `last`, in preorder, roots in order;
        detail is the (bin, cut) of a split and the kind of a certified leaf."""
        fruitful = self._fruitful(last)
        for root in self.roots:
            stack = [root]
            while stack:
                node = stack.pop()
                fate = self.fate.get(node)
                if fate is None or fate[1] > last or (fate[0] == "split" and node not in fruitful):
                    yield node, "given up", None
                elif fate[0] == "enumerated":
                    yield node, "enumerated", None
                else:
                    yield node, fate[0], fate[2]
                    if fate[0] == "split":
                        stack.extend(reversed(children(node, *fate[2])))

    def witness(self, last: int) -> tuple[dict, dict]:
        """The witness rows of the tree after step `last`, with the enumerated leaves counted exactly."""
        if last < 0:
            return {"nodes": [node_row(GIVEN_UP, 0, 0, r) for r in self.roots]}, {"enumerated": 0}
        tree = list(self.visit(last))
        enumerated = [node for node, state, _ in tree if state == "enumerated"]
        new = [node for node in enumerated if node not in self.enumerated_counts]  # others: counted by `like`
        counts = _enumerated_counts(self.tables, list(enumerate(new)), {"ops": 0, "exact_path": 0})
        self.enumerated_counts.update((new[i], c) for i, c in counts.items())
        by_node = {node: self.enumerated_counts[node] for node in enumerated}
        rows = []
        for node, state, detail in tree:
            if state == "split":
                rows.append(node_row(SPLIT, detail[0], detail[1], node))
            elif state == "certified":
                rows.append(node_row(detail, node_size(self.K, node), 0, node))
            elif state == "enumerated":
                rows.append(node_row(ENUMERATED, by_node[node], 0, node))
            else:
                rows.append(node_row(GIVEN_UP, 0, 0, node))
        return {"nodes": rows}, {"enumerated": len(enumerated), "enumerated_correct": sum(by_node.values())}


def search(tables: MaxOfKTables, budget: float | None = None, progress: bool = False,
           device: str | None = None) -> tuple[dict, dict]:
    """The witness of the longest step prefix whose proof length (without exact-path arb operations) fits the
    budget, the search's floats on `device` (default: CUDA when present, else the CPU). None: no limit; the
    search then runs until no given-up leaf can be refined, or MAX_EVALUATED (roots first: with no limit the
    order of the steps does not change the tree). With a budget, the prefix of the two orders that proves more
    inputs (then: the shorter), so that the bound is non-decreasing in the budget and at least the roots' bound
    once the budget covers them."""
    limit = float("inf") if budget is None else float(budget)
    best, found = None, None
    for roots_first in (True,) if budget is None else (True, False):
        found = Search(tables, limit, progress=progress, device=device, roots_first=roots_first, like=found)
        witness, info = witness_of(found, limit)
        key = (info["proven"], -info["predicted_ops"])
        if best is None or key > best[0]:
            best = (key, witness, info)
    return best[1], best[2]


def witness_of(found: Search, limit: float) -> tuple[dict, dict]:
    """The witness (and search statistics) of the longest prefix of `found` within `limit`; `proven`: the inputs
    its tree proves correct (certified leaves and the enumerated leaves' correct inputs)."""
    last = found.last_step(limit)
    witness, info = found.witness(last)
    info.update(steps=len(found.step_cost), last_step=last, nodes=len(witness["nodes"]), evaluated=found.evaluated,
                predicted_ops=sum(found.step_cost[: last + 1]), search_s=found.seconds,
                order="roots first" if found.roots_first else "by rate",
                proven=sum(found.step_gain[: last + 1]) + info.get("enumerated_correct", 0))
    return witness, info


def frontier(found: Search, limit: float = float("inf"), points: int = 40) -> list[tuple[int, int]]:
    """(proof length without arb operations, proven-correct inputs) after about `points` prefixes of the step
    sequence, evenly spaced in log proof length up to `limit`: the bound against proof length that --budget
    buys (exact counts: enumerated leaves are counted with the checker's evaluator)."""
    last = found.last_step(limit)
    if last < 0:
        return []
    cost = list(accumulate(found.step_cost[: last + 1]))
    enumerated = [node for node, fate in found.fate.items() if fate[0] == "enumerated" and fate[1] <= last]
    proven = _enumerated_counts(found.tables, list(enumerate(enumerated)), {"ops": 0, "exact_path": 0})
    gain = list(found.step_gain[: last + 1])
    for i, count in proven.items():
        gain[found.fate[enumerated[i]][1]] += count
    gained = list(accumulate(gain))
    targets = np.geomspace(cost[0], cost[-1], points) if cost[-1] > cost[0] else [cost[0]]
    steps = sorted({int(np.searchsorted(cost, t, side="right")) - 1 for t in targets} | {0, last})
    return [(cost[s], gained[s]) for s in steps if s >= 0]
