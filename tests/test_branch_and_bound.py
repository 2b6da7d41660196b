"""The branch-and-bound schema: sound against the independent exhaustive evaluation (tests/reference.py),
exact in its exact-target mode, monotone in the budget, and every tampering rejected with its node named."""

import itertools
from collections import Counter
from fractions import Fraction

import flint
import numpy as np
import pytest
from reference import exhaustive_accuracy
from small_models import adversarial_models
from test_fuzz_soundness import fuzz_model, table_model

from checker.certificate import Certificate
from checker.maxofk import build_tables
from checker.model import ModelConfig, weights_sha256
from checker.schemas.branch_and_bound import (CERTIFIED, CERTIFIED_KINDS, CERTIFIED_POSITIONS, CERTIFIED_SORTED,
                                              ENUMERATED, GIVEN_UP, SPLIT, MaxBounds, _row_node, children, estimate,
                                              failing_sorted, node_inputs, node_row, node_size, roots,
                                              table_intervals, walk)
from checker.schemas.brute_force import ExactEvaluator
from checker.verify import check_certificate, check_file

MODELS = adversarial_models()


@pytest.fixture(autouse=True, scope="module")
def small_leaves():
    """Prefer splitting to enumerating, so that the search splits even on these tiny models."""
    import generator.branch_and_bound as search

    patch = pytest.MonkeyPatch()
    patch.setattr(search, "ENUM_PREFERENCE", 0.02)
    patch.setattr(search, "WAVE", 7)  # several waves even on tiny models
    yield
    patch.undo()


def _search(cfg, params, budget=None):
    from generator.branch_and_bound import search

    flint.ctx.prec = 128
    return search(build_tables(cfg, params), budget)[0]


def _check(cfg, params, witness, claim=Fraction(0)):
    cert = Certificate(1, "branch-and-bound", 1, cfg, weights_sha256(cfg, params), params, witness, claim, {})
    return check_certificate(cert)


def _assert_leaves_sound(cfg, params, witness):
    """The leaves partition the input space, and every input of a certified leaf is correct (exact evaluator)."""
    V, K = cfg.d_vocab, cfg.n_ctx
    flint.ctx.prec = 128
    exact = ExactEvaluator(build_tables(cfg, params))
    seen = Counter()
    for _, kind, _, node in walk(cfg, witness["nodes"]):
        inputs = [tuple(row) + (node[0],) for row in node_inputs(K, node).tolist()]
        assert len(inputs) == node_size(K, node)
        seen.update(inputs)
        if kind in CERTIFIED_KINDS:
            assert all(exact.correct(t) is True for t in inputs), f"certified leaf {node} holds a wrong input"
    assert seen == Counter(itertools.product(range(V), repeat=K))


@pytest.mark.parametrize("name,cfg,params", MODELS, ids=[m[0] for m in MODELS])
def test_exact_mode_equals_exhaustive_accuracy_adversarial(name, cfg, params):
    witness = _search(cfg, params)
    verdict = _check(cfg, params, witness)
    assert verdict.verdict == "accepted", verdict.reason
    assert verdict.bound == exhaustive_accuracy(params)
    _assert_leaves_sound(cfg, params, witness)


FUZZ_SEEDS = list(range(0, 15))


@pytest.mark.parametrize("seed", FUZZ_SEEDS)
def test_fuzz_models_sound_and_exact(seed):
    cfg, params = table_model(seed) if seed % 3 == 2 else fuzz_model(seed)
    truth = exhaustive_accuracy(params)
    for budget in (2e5, None):
        witness = _search(cfg, params, budget)
        verdict = _check(cfg, params, witness)
        assert verdict.verdict == "accepted", verdict.reason
        assert verdict.bound <= truth
        _assert_leaves_sound(cfg, params, witness)
    assert verdict.bound == truth  # the exact-target mode (no budget)


def _random_tree(cfg, tables, rng):
    """A tree the generator would not build: random cuts to random depth; each leaf certified by a random one
    of the checker's bounds (mixture, position-aware, sorted mixture) that certifies it, else enumerated or
    given up at random."""
    V, K = cfg.d_vocab, cfg.n_ctx
    intervals = table_intervals(tables)
    bounds = {m: MaxBounds(intervals, m) for m in range(V)}
    rows = []
    for root in roots(V, K):
        stack = [(root, 0)]
        while stack:
            node, depth = stack.pop()
            splittable = [(i, lo, hi) for i, (lo, hi, n) in enumerate(_bins(node)) if n > 0 and hi - lo >= 2]
            if splittable and depth < 3 and rng.random() < 0.6:
                i, lo, hi = splittable[rng.integers(len(splittable))]
                cut = int(rng.integers(lo + 1, hi))
                rows.append(node_row(SPLIT, i, cut, node))
                stack.extend((child, depth + 1) for child in reversed(children(node, i, cut)))
                continue
            b = bounds[node[1]]
            passing = [kind for kind, ok in (
                (CERTIFIED, b.certified(np.array([node[0]]), node[2], False)[0]),
                (CERTIFIED_POSITIONS, b.certified(np.array([node[0]]), node[2], True)[0]),
                (CERTIFIED_SORTED, not failing_sorted(b, [(0, node)]))) if ok]
            if passing:
                rows.append(node_row(passing[rng.integers(len(passing))], node_size(K, node), 0, node))
            elif rng.random() < 0.5:
                correct = sum(ExactEvaluator(tables).correct(tuple(t) + (node[0],)) is True
                              for t in node_inputs(K, node).tolist())
                rows.append(node_row(ENUMERATED, correct, 0, node))
            else:
                rows.append(node_row(GIVEN_UP, 0, 0, node))
    return {"nodes": rows}


def _bins(node):
    from checker.schemas.branch_and_bound import bins_of

    return bins_of(node)


@pytest.mark.parametrize("seed", range(100, 110))
def test_random_trees_sound(seed):
    cfg, params = table_model(seed) if seed % 2 else fuzz_model(seed)
    flint.ctx.prec = 128
    witness = _random_tree(cfg, build_tables(cfg, params), np.random.default_rng(seed))
    verdict = _check(cfg, params, witness)
    assert verdict.verdict == "accepted", verdict.reason
    assert verdict.bound <= exhaustive_accuracy(params)
    _assert_leaves_sound(cfg, params, witness)


def _trained(cfg_args, seed, steps):
    from test_cubic import _trained as trained

    return trained(cfg_args, seed, steps)


@pytest.mark.parametrize("cfg_args,seed,steps", [((8, 8, 8, 3), 4, 600), ((6, 8, 8, 4), 2, 800)])
def test_trained_models_exact_and_monotone_in_budget(cfg_args, seed, steps):
    cfg, params, accuracy = _trained(cfg_args, seed, steps)
    bounds = []
    for budget in (0, 3e5, 3e6, None):
        witness = _search(cfg, params, budget)
        verdict = _check(cfg, params, witness)
        assert verdict.verdict == "accepted", verdict.reason
        assert verdict.bound <= accuracy
        work = estimate(cfg, witness)[0]
        if verdict.result.details["exact_path"] == 0:  # the estimate adds interpreted steps to the count
            assert work > verdict.result.proof_length
        if budget is not None:
            assert verdict.result.proof_length <= budget or verdict.bound == 0
        bounds.append(verdict.bound)
    assert bounds == sorted(bounds)  # a larger budget never gives a smaller bound
    assert bounds[-1] == accuracy  # the exact-target mode
    assert bounds[0] < bounds[-1]  # the budgets mattered
    _assert_leaves_sound(cfg, params, witness)


# --- tampering -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_cert():
    """A certificate with split, certified and enumerated rows, on a model with right and wrong inputs."""
    cfg, params = fuzz_model(32)
    witness = _search(cfg, params)
    assert {SPLIT, CERTIFIED_SORTED, ENUMERATED} <= {_row_node(r)[0] for r in witness["nodes"]}
    assert 0 < exhaustive_accuracy(params) < 1
    verdict = _check(cfg, params, witness)
    assert verdict.verdict == "accepted"
    return cfg, params, witness, verdict.bound


def _tampered(small_cert, edit):
    cfg, params, witness, bound = small_cert
    rows = list(witness["nodes"])
    edit(rows, cfg)
    claim = bound
    return _check(cfg, params, {"nodes": rows}, claim)


def _first(rows, kind, pred=lambda node: True):
    return next(i for i, r in enumerate(rows) if _row_node(r)[0] == kind and pred(_row_node(r)[3]))


def _replace(rows, i, **fields):
    kind, a, b, node = _row_node(rows[i])
    values = {"kind": kind, "a": a, "b": b, "node": node, **fields}
    rows[i] = node_row(values["kind"], values["a"], values["b"], values["node"])


def test_tamper_overlapping_leaves(small_cert):
    def edit(rows, cfg):
        i = _first(rows, SPLIT)
        j = i + 2  # the split's second child describes the first child instead: the two overlap
        _replace(rows, j, node=_row_node(rows[i + 1])[3])

    v = _tampered(small_cert, edit)
    assert v.verdict == "rejected" and "node " in v.reason and "overlapping" in v.reason, v.reason


def test_tamper_duplicated_leaf(small_cert):
    v = _tampered(small_cert, lambda rows, cfg: rows.insert(len(rows), rows[-1]))
    assert v.verdict == "rejected" and f"node {len(small_cert[2]['nodes'])}" in v.reason, v.reason


def test_tamper_missing_leaf(small_cert):
    def edit(rows, cfg):
        del rows[_first(rows, CERTIFIED_SORTED)]
    v = _tampered(small_cert, edit)
    assert v.verdict == "rejected" and "node " in v.reason, v.reason


def test_tamper_truncated_tree(small_cert):
    v = _tampered(small_cert, lambda rows, cfg: rows.pop())
    assert v.verdict == "rejected" and "missing" in v.reason, v.reason


def test_tamper_certified_count_changed(small_cert):
    i = _first(list(small_cert[2]["nodes"]), CERTIFIED_SORTED)
    v = _tampered(small_cert, lambda rows, cfg: _replace(rows, i, a=_row_node(rows[i])[1] + 1))
    assert v.verdict == "rejected" and f"node {i} " in v.reason, v.reason


def test_tamper_enumerated_count_changed(small_cert):
    i = _first(list(small_cert[2]["nodes"]), ENUMERATED)
    v = _tampered(small_cert, lambda rows, cfg: _replace(rows, i, a=_row_node(rows[i])[1] + 1))
    assert v.verdict == "rejected" and f"node {i} " in v.reason and "proves" in v.reason, v.reason


def test_tamper_verdict_changed(small_cert):
    cfg, params, witness, _ = small_cert
    flint.ctx.prec = 128
    exact = ExactEvaluator(build_tables(cfg, params))
    rows = list(witness["nodes"])

    def has_wrong(node):
        return any(exact.correct(tuple(t) + (node[0],)) is not True for t in node_inputs(cfg.n_ctx, node).tolist())
    i = _first(rows, ENUMERATED, has_wrong)
    for kind in CERTIFIED_KINDS:
        node = _row_node(rows[i])[3]
        v = _tampered(small_cert, lambda rows, cfg: _replace(rows, i, kind=kind, a=node_size(cfg.n_ctx, node)))
        assert v.verdict == "rejected" and f"node {i} " in v.reason and "not certified" in v.reason, v.reason


def test_tamper_given_up_counted(small_cert):
    def edit(rows, cfg):
        _replace(rows, _first(rows, CERTIFIED_SORTED), kind=GIVEN_UP)  # keeps its count
    v = _tampered(small_cert, edit)
    assert v.verdict == "rejected" and "given-up leaf" in v.reason, v.reason


def test_tamper_split_does_not_partition(small_cert):
    i = _first(list(small_cert[2]["nodes"]), SPLIT)
    for cut in (0, 10 ** 6):
        v = _tampered(small_cert, lambda rows, cfg: _replace(rows, i, b=cut))
        assert v.verdict == "rejected" and f"node {i} " in v.reason and "partition" in v.reason, v.reason


def test_tamper_bad_rows(small_cert):
    for bad in ("1 2", "x", "1  2 3 4 5 6 7", "-1 0 0 0 0 0 0", 7):
        v = _tampered(small_cert, lambda rows, cfg: rows.__setitem__(0, bad))
        assert v.verdict == "rejected" and "node 0" in v.reason, v.reason
    cfg, params, witness, _ = small_cert
    assert _check(cfg, params, {"nodes": witness["nodes"], "extra": 1}).verdict == "rejected"
    assert "vector" in _check(cfg, params, {"nodes": 5}).reason


def test_tamper_raised_claim_weight_and_truncation(small_cert, tmp_path):
    from generator.certwriter import format_certificate

    cfg, params, witness, bound = small_cert
    cert = Certificate(1, "branch-and-bound", 1, cfg, weights_sha256(cfg, params), params, witness, bound, {})
    path = tmp_path / "c.cert"
    path.write_text(format_certificate(cert))
    assert check_file(str(path)).verdict == "accepted"
    cert.claim = bound + Fraction(1, cfg.d_vocab ** cfg.n_ctx)
    path.write_text(format_certificate(cert))
    v = check_file(str(path))
    assert v.verdict == "rejected" and "exceeds" in v.reason
    cert.claim = bound
    altered = {n: a.copy() for n, a in params.items()}
    flat = altered["unembed.W_U"].reshape(-1)
    flat[0] = flat[0] * np.float32(2) + np.float32(1)
    cert.params = altered
    path.write_text(format_certificate(cert))
    assert "hash" in check_file(str(path)).reason
    text = format_certificate(Certificate(1, "branch-and-bound", 1, cfg, weights_sha256(cfg, params), params,
                                          witness, bound, {}))
    path.write_text(text[: len(text) * 2 // 3])
    assert check_file(str(path)).verdict == "malformed"


def test_estimate_is_cheap_and_matches(small_cert):
    cfg, params, witness, _ = small_cert
    v = _check(cfg, params, witness)
    work, memory = estimate(cfg, witness)
    assert work >= v.result.proof_length > 0 and memory > 0
    assert estimate(cfg, {})[0] > 0 and estimate(cfg, {"nodes": ["9 9 9 999999999 5 999999999 5"]})[0] > 0


def test_search_refused_up_front_when_the_smallest_certifying_tree_is_over_budget(small_cert):
    """20 x 512 (the paper's largest configuration): a tree with one certified leaf already needs the V^3 tables,
    85 GiB, so the generator refuses before any search, with the estimate; the lower bound never exceeds what a
    real tree's check costs."""
    pytest.importorskip("torch", reason="certify generate needs the generator extra (torch)")
    import time

    from checker.budget import Budget, OverBudget
    from generator.generate import build_certificate, estimate_strategy

    cfg = ModelConfig(d_vocab=512, d_model=4, d_head=4, n_ctx=20)
    params = {n: np.zeros(shape, np.float32) for n, shape in cfg.shapes().items()}
    start = time.perf_counter()
    with pytest.raises(OverBudget, match="memory"):
        build_certificate(cfg, params, "branch-and-bound", {}, device="cpu", progress=False, budget=Budget())
    assert time.perf_counter() - start < 5
    small, _, witness, _ = small_cert
    work, memory = estimate_strategy(small, "branch-and-bound", {})
    real_work, real_memory = estimate(small, witness)
    assert 0 < work <= real_work and 0 < memory <= real_memory


def test_roots_partition_the_input_space():
    for V, K in ((1, 1), (3, 1), (4, 3), (5, 2), (2, 5)):
        assert sum(node_size(K, r) for r in roots(V, K)) == V ** K


def test_cli_budget(tmp_path, root):
    pytest.importorskip("torch", reason="certify generate needs the generator extra (torch)")
    from generator.cli import main
    from generator.modelio import save_model

    cfg = ModelConfig(5, 4, 4, 3)
    params = adversarial_models()[0][2]
    model = tmp_path / "m.safetensors"
    save_model(str(model), cfg, params, {})
    out = tmp_path / "b.cert"
    assert main(["generate", str(model), "--strategy", "branch-and-bound", "--budget", "1e5", "--quiet",
                 "-o", str(out)]) == 0
    v = check_file(str(out))
    assert v.verdict == "accepted" and v.result.proof_length <= 1e5
    assert main(["generate", str(model), "--strategy", "branch-and-bound", "--option", "x=1", "--quiet",
                 "-o", str(out)]) == 2


def _cert_witness(path):
    from checker.certificate import read_certificate

    return read_certificate(str(path)).witness


def _root_mass(cfg, params):
    """Inputs certified when each of the checker's bounds (mixture, position-aware, sorted) is applied to each
    root alone: the best leaf argument at the root level, the least the tree must reach."""
    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    intervals = table_intervals(tables)
    V, K = cfg.d_vocab, cfg.n_ctx
    total = 0
    for m in range(V):
        bounds = MaxBounds(intervals, m)
        for root in (r for r in roots(V, K) if r[1] == m):
            q = np.array([root[0]])
            if (not failing_sorted(bounds, [(0, root)]) or bounds.certified(q, root[2], False)[0]
                    or bounds.certified(q, root[2], True)[0]):
                total += node_size(K, root)
    return Fraction(total, V ** K)


@pytest.mark.parametrize("seed", [16, 21, 28])
def test_bound_never_falls_as_budget_grows_and_never_below_the_roots(seed):
    from generator.branch_and_bound import Search

    cfg, params = table_model(seed) if seed % 3 == 2 else fuzz_model(seed)
    flint.ctx.prec = 128
    found = Search(build_tables(cfg, params))
    costs = sorted(set(itertools.accumulate(found.step_cost)))
    budgets = [0, costs[0] - 1] + costs[:: max(1, len(costs) // 12)] + [costs[-1], 10 * costs[-1]]
    bounds = []
    for budget in budgets:
        witness = _search(cfg, params, budget)
        verdict = _check(cfg, params, witness)
        assert verdict.verdict == "accepted", verdict.reason
        assert verdict.result.proof_length <= budget or verdict.bound == 0
        bounds.append(verdict.bound)
    assert bounds == sorted(bounds), bounds  # a larger budget never gives a smaller bound
    assert bounds[0] == 0 and bounds[-1] == exhaustive_accuracy(params)
    roots_bound = _root_mass(cfg, params)
    root_level = sum(found.step_cost[: found.root_steps])
    assert roots_bound > 0 and any(budget >= root_level for budget in budgets[:-2])
    assert all(b >= roots_bound for budget, b in zip(budgets, bounds) if budget >= root_level)


@pytest.mark.parametrize("seed", [16, 21, 28, 40])
def test_order_by_rate_sound_and_the_same_tree_without_a_limit(seed):
    """The order by rate: every prefix's tree is accepted, sound (exact evaluator) and proves what the search
    counted; without a limit it builds the tree of the roots-first order (the order of the steps does not change
    the fates); `search` with a budget is at least each order's prefix at that budget."""
    from generator.branch_and_bound import Search, search, witness_of

    cfg, params = table_model(seed) if seed % 3 == 2 else fuzz_model(seed)
    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    total = cfg.d_vocab ** cfg.n_ctx
    first = Search(tables)
    by_rate = Search(tables, roots_first=False, like=first)
    assert witness_of(by_rate, float("inf"))[0] == witness_of(first, float("inf"))[0]
    costs = sorted(set(itertools.accumulate(by_rate.step_cost)))
    for budget in costs[:: max(1, len(costs) // 5)] + [costs[-1]]:
        witness, info = witness_of(Search(tables, budget, roots_first=False), budget)
        verdict = _check(cfg, params, witness)
        assert verdict.verdict == "accepted", verdict.reason
        assert verdict.bound == Fraction(info["proven"], total)
        assert verdict.result.proof_length <= budget or verdict.bound == 0
        _assert_leaves_sound(cfg, params, witness)
        best, best_info = search(tables, budget)
        assert best_info["proven"] >= max(info["proven"], witness_of(Search(tables, budget), budget)[1]["proven"])
        assert _check(cfg, params, best).bound == Fraction(best_info["proven"], total)


@pytest.mark.parametrize("roots_first", [True, False])
def test_an_earlier_stop_gives_a_prefix_of_the_steps(roots_first, monkeypatch):
    """What makes the budgeted bound non-decreasing in the budget with an evaluation cap that grows with it: a
    search that evaluates fewer nodes takes a prefix of the longer search's steps, with the same costs, gains and
    fates. (Waves of 2 nodes, so that this small model's search takes many waves.)"""
    import generator.branch_and_bound as bb

    monkeypatch.setattr(bb, "WAVE", 2)
    cfg, params = table_model(41)
    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    full = bb.Search(tables, roots_first=roots_first)
    roots_count = len(full.roots)
    assert full.evaluated >= roots_count + 20  # many waves
    for cap in (roots_count, roots_count + 1, roots_count + 7, (roots_count + full.evaluated) // 2):
        short = bb.Search(tables, max_evaluated=cap, roots_first=roots_first)
        n = len(short.step_cost)
        assert short.evaluated < full.evaluated and n < len(full.step_cost)
        assert short.step_cost == full.step_cost[:n] and short.step_gain == full.step_gain[:n]
        assert short.fate == {node: fate for node, fate in full.fate.items() if fate[1] < n}

def _random_nodes(V, K, rng, depth=3):
    """Every node of random split trees (roots included): the shapes the search screens."""
    out = []
    for root in roots(V, K):
        stack = [(root, 0)]
        while stack:
            node, level = stack.pop()
            out.append(node)
            splittable = [(i, lo, hi) for i, (lo, hi, n) in enumerate(_bins(node)) if n > 0 and hi - lo >= 2]
            if splittable and level < depth and rng.random() < 0.7:
                i, lo, hi = splittable[rng.integers(len(splittable))]
                stack.extend((child, level + 1) for child in children(node, i, int(rng.integers(lo + 1, hi))))
    return out


SCREEN_MODELS = MODELS + [("fuzz", *fuzz_model(s)) for s in (3, 7)] + [("table", *table_model(s)) for s in (5, 8)]


@pytest.mark.parametrize("name,cfg,params", SCREEN_MODELS, ids=[m[0] for m in SCREEN_MODELS])
def test_torch_screen_verdicts_are_the_checkers(name, cfg, params):
    """The search's torch screen gives the checker's sorted mixture verdict (MaxBounds.certified_sorted, through
    failing_sorted) on every node of random trees, including models whose bounds overflow or underflow."""
    import torch

    from generator.branch_and_bound import SortedScreen

    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    intervals = table_intervals(tables)
    nodes = _random_nodes(cfg.d_vocab, cfg.n_ctx, np.random.default_rng(len(name)))
    by_m = {}
    for node in nodes:
        by_m.setdefault(node[1], []).append(node)
    certified = 0
    for m, group in by_m.items():
        bounds = MaxBounds(intervals, m)
        screen = SortedScreen(bounds, torch.device("cpu"))
        failing = {node for _, node in failing_sorted(bounds, list(enumerate(group)))}
        got = screen.certified(group, cfg.n_ctx)
        assert got == [node not in failing for node in group], (name, m)
        assert screen.certified(group[::-1], cfg.n_ctx) == got[::-1]  # cached ranges give the same verdicts
        certified += sum(got)
    if name.startswith(("random", "designed", "tiny", "mixed")):
        assert 0 < certified < len(nodes)  # both verdicts occur, so the comparison has teeth


@pytest.mark.parametrize("name", ["random-v6", "random-v10-k2", "trained-v12"])
def test_root_boundaries_are_the_largest_certified_cuts(name):
    """Search._boundaries gives each given-up root (q, m, c) the largest cut b whose child "all c tokens below b"
    the checker's sorted bound certifies: that child passes `failing_sorted`, the one with b + 1 does not."""
    from generator.branch_and_bound import Search

    if name == "trained-v12":
        cfg, params, _ = _trained((12, 8, 8, 3), 3, 600)
    else:
        cfg, params = next((c, p) for n, c, p in MODELS if n == name)
    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    found = Search(tables, max_evaluated=0)
    given_up = [root for root in found.roots if root not in found.fate]
    cuts = found._boundaries(given_up)
    intervals = table_intervals(tables)

    def certified(q, m, c, b):
        return not failing_sorted(MaxBounds(intervals, m), [(0, (q, m, ((c, b), (0, m))))])

    assert cuts  # the comparison has teeth
    for (q, m, ((c, _),)), (index, b) in cuts.items():
        assert index == 0 and 1 <= b < m and certified(q, m, c, b)
        assert b + 1 == m or not certified(q, m, c, b + 1)
    for root in given_up:
        q, m, ((c, _),) = root
        if root not in cuts and c >= 1 and m >= 2:
            assert not certified(q, m, c, 1)


@pytest.mark.parametrize("chunk", [1, 5, 1 << 14])
def test_enumerated_counts_in_batches_are_each_leafs_own(monkeypatch, chunk):
    """However a query's enumerated leaves fall into batches, each leaf gets the count of its own inputs
    (the exact evaluator, input by input)."""
    import checker.schemas.branch_and_bound as bnb

    cfg, params = fuzz_model(4)
    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    exact = ExactEvaluator(tables)
    leaves = list(enumerate(roots(cfg.d_vocab, cfg.n_ctx)))
    monkeypatch.setattr(bnb, "ENUM_CHUNK", chunk)
    got = bnb._enumerated_counts(tables, leaves, {"ops": 0, "exact_path": 0})
    want = {index: sum(exact.correct(tuple(row) + (node[0],)) is True for row in node_inputs(cfg.n_ctx, node).tolist())
            for index, node in leaves}
    assert got == want
    assert len({node[0] for _, node in leaves}) < len(leaves)  # some query has several leaves


@pytest.mark.parametrize("K", [1, 2, 3])
@pytest.mark.parametrize("budget", [None, 1e6])
def test_one_token_vocabulary(K, budget):
    """d_vocab 1: no wrong output, every input correct. The search (whose leaf cost was 0: a ZeroDivisionError)
    certifies all of it, in both step orders (a budget runs both), and the checker agrees with the reference."""
    from conftest import random_params

    cfg = ModelConfig(d_vocab=1, d_model=4, d_head=4, n_ctx=K)
    params = random_params(cfg, K)
    witness = _search(cfg, params, budget)
    verdict = _check(cfg, params, witness)
    assert verdict.verdict == "accepted", verdict.reason
    assert verdict.bound == exhaustive_accuracy(params) == 1


def test_cli_one_token_vocabulary(tmp_path):
    pytest.importorskip("torch", reason="certify generate needs the generator extra (torch)")
    from conftest import random_params

    from generator.cli import main
    from generator.modelio import save_model

    cfg = ModelConfig(d_vocab=1, d_model=4, d_head=4, n_ctx=3)
    model = tmp_path / "m.safetensors"
    save_model(str(model), cfg, random_params(cfg, 0), {})
    for extra in ([], ["--budget", "1e6"]):
        out = tmp_path / "b.cert"
        assert main(["generate", str(model), "--strategy", "branch-and-bound", *extra, "--quiet",
                     "-o", str(out)]) == 0
        v = check_file(str(out))
        assert v.verdict == "accepted" and v.bound == 1
