"""Checker budget and reliability (issue 23, item 3): certificates whose exact tables hold huge integers, enumerated
leaves with many placements or a long context, a cubic witness with a malformed top_outputs, and a cubic count over
a long context each end with one line and exit 0, 1 or 2 within 60 CPU-s and 4 GiB; a valid one is accepted or
refused by the budget with its estimate, never by an internal limit. The enumeration of a leaf is compared with an
independent brute enumeration."""

import itertools
import os
import random
import resource
import shutil
import subprocess
import sys
from collections import Counter
from fractions import Fraction
from math import comb

import flint
import numpy as np
import pytest
from conftest import ROOT, random_params

import checker.schemas.branch_and_bound as bnb
from checker.budget import BASE_MEMORY, Budget, schema_estimate, table_estimate
from checker.certificate import Certificate, fraction_text
from checker.maxofk import build_tables, inputs_of_cases, table_bits
from checker.model import ModelConfig, weights_sha256
from checker.schemas import schema_registry
from checker.schemas.cubic import DIRECT_PATH, cubic_counts
from checker.verify import check_certificate, check_file

CPU_LIMIT_S, MEMORY_LIMIT = 60, 4 << 30


def _write(path, cfg, params, schema, witness, claim=Fraction(0)):
    from generator.certwriter import write_certificate

    write_certificate(str(path), Certificate(1, schema, 1, cfg, weights_sha256(cfg, params), params, witness,
                                             claim, {}))
    return str(path)


def _certcheck(*args):
    """(exit code, stdout lines, stderr) of certcheck under the issue's limits: prlimit where it exists (the
    resource module otherwise), never a wall-clock limit."""
    limits = ["prlimit", f"--as={MEMORY_LIMIT}", f"--cpu={CPU_LIMIT_S}"] if shutil.which("prlimit") else []

    def fallback():
        if not limits:
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
            resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_S, CPU_LIMIT_S))

    p = subprocess.run(limits + [sys.executable, "-m", "checker", "-q", *args], capture_output=True, text=True,
                       cwd=ROOT, preexec_fn=fallback)
    return p.returncode, p.stdout.splitlines(), p.stderr


def _wide_params(cfg, seed=0):
    """Weights that mix float32's smallest subnormals (2^-149) with values near 2^126: table entries of about
    1100 bits."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in cfg.shapes().items():
        tiny = np.float32(2.0 ** -149) * rng.integers(1, 4, shape)
        huge = np.float32(2.0 ** 126) * rng.uniform(0.5, 1.9, shape) * np.sign(rng.standard_normal(shape))
        out[name] = np.where(rng.random(shape) < 0.5, tiny, huge).astype(np.float32)
    return out


# --- memory: the exact tables are charged by the bit length of their entries --------------------------------------

@pytest.mark.parametrize("spread", [0, 4, 40, 126])
def test_table_bits_bounds_every_table_integer(spread):
    """table_bits is an upper bound of the bit length of every integer of the tables that build_tables forms, and
    not a loose one (within 20% here)."""
    cfg = ModelConfig(7, 3, 2, 4)
    rng = np.random.default_rng(spread)
    params = random_params(cfg, spread, bias_scale=1.0)
    for name, a in params.items():
        a[...] = (a * np.ldexp(1.0, rng.integers(-spread, spread + 1, a.shape))).astype(np.float32)
    params["blocks.0.attn.b_V"][:] = 0  # an all-zero tensor
    if spread == 126:
        params = _wide_params(cfg)
    t = build_tables(cfg, params)
    actual = max(int(v).bit_length() for d in (t.query, t.key_tok, t.eqke, t.eqkp, t.evou, t.pvou, t.eupu)
                 for v in d.mat.entries())
    assert actual <= table_bits(cfg, params) <= 1.2 * actual + 16


@pytest.mark.parametrize("dims", [(5, 9, 2, 3), (5, 2, 9, 3), (4, 17, 1, 2), (3, 1, 33, 2)])
def test_table_bits_bounds_the_carries_of_long_sums(dims):
    """Weights of one exponent and the largest mantissa, signs at random: sums whose carries reach the bound's
    log2(inner dimension) term, for d_model and d_head apart."""
    cfg = ModelConfig(*dims)
    for seed in range(4):
        rng = np.random.default_rng(seed)
        params = {name: (rng.choice([-1.0, 1.0], shape) * (1 - 2.0 ** -24) * 2.0 ** seed).astype(np.float32)
                  for name, shape in cfg.shapes().items()}
        t = build_tables(cfg, params)
        actual = max(int(v).bit_length() for d in (t.query, t.key_tok, t.eqke, t.eqkp, t.evou, t.pvou, t.eupu)
                     for v in d.mat.entries())
        assert actual <= table_bits(cfg, params), (seed, actual)


def test_the_memory_estimate_grows_with_the_bit_length():
    cfg = ModelConfig(50, 2, 2, 2)
    trained, wide = table_estimate(cfg, random_params(cfg, 0)), table_estimate(cfg, _wide_params(cfg))
    assert table_estimate(cfg)[1] >= trained[1]  # without the weights: more bits than trained weights give
    assert wide[0] > trained[0] and wide[1] - BASE_MEMORY > 2 * (trained[1] - BASE_MEMORY)


def _peak_and_line(path):
    """(exit code, output line, peak RSS in bytes) of certcheck PATH in a fresh interpreter: VmHWM, the peak of the
    process's own memory map (ru_maxrss would also count the parent's, which a vfork-ed child inherits)."""
    code = ("import re, sys; from checker.cli import main; c = main(['-q', sys.argv[1]]); "
            "print(int(re.search(r'VmHWM:\\s*(\\d+) kB', open('/proc/self/status').read()).group(1)) * 1024); "
            "sys.exit(c)")
    p = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, cwd=ROOT)
    line, peak = p.stdout.splitlines()
    return p.returncode, line, int(peak)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc/self/status (VmHWM)")
def test_wide_weights_peak_within_the_memory_estimate(tmp_path):
    """A brute-force check of wide weights (every input on the exact path) peaks within its estimate, and its extra
    memory over trained-like weights (the copies of entries of about 1100 bits, not 120) within the estimate's."""
    cfg = ModelConfig(300, 2, 2, 1)
    runs = {}
    for name, params in (("narrow", random_params(cfg, 0)), ("wide", _wide_params(cfg))):
        code, line, peak = _peak_and_line(_write(tmp_path / f"{name}.cert", cfg, params, "brute-force", {}))
        assert code == 0 and line.startswith("ACCEPTED"), line
        runs[name] = peak, schema_estimate("brute-force", 1, cfg, {}, params)[1]
        assert peak <= runs[name][1], (name, runs[name])
    assert runs["wide"][0] - runs["narrow"][0] <= runs["wide"][1] - runs["narrow"][1], runs


def test_brute_force_with_wide_weights_is_refused_by_its_estimate(tmp_path):
    """The issue's reproducer: d_vocab 2000, K 2, weights from 2^-149 to 2^126. It passed the 4 GiB estimate
    (3.70e9 bytes) and peaked at 5-6 GB; now the tables' estimate refuses it, within a second."""
    cfg = ModelConfig(2000, 2, 2, 2)
    path = _write(tmp_path / "wide.cert", cfg, _wide_params(cfg), "brute-force", {})
    code, lines, err = _certcheck(path)
    assert code == 2 and len(lines) == 1, (lines, err[-2000:])
    assert lines[0].startswith(f"REFUSED {path}: over budget: building this model's exact tables needs about ")
    assert "GiB of memory, more than the limit of 4 GiB (raise it with --max-memory SIZE)" in lines[0]


def test_branch_and_bound_charges_the_tables():
    """branch_and_bound.estimate left the tables out; with wide weights it now charges their bit length."""
    cfg = ModelConfig(120, 2, 2, 2)
    rows = [bnb.node_row(bnb.GIVEN_UP, 0, 0, root) for root in bnb.roots(cfg.d_vocab, cfg.n_ctx)]
    wide = _wide_params(cfg)
    estimate = schema_estimate("branch-and-bound", 1, cfg, {"nodes": rows}, wide)
    tables = table_estimate(cfg, wide)
    assert estimate[0] >= tables[0] and estimate[1] >= tables[1]
    cert = Certificate(1, "branch-and-bound", 1, cfg, weights_sha256(cfg, wide), wide, {"nodes": rows},
                       Fraction(0), {})
    v = check_certificate(cert, budget=Budget(max_memory=tables[1] - 1))
    assert v.verdict == "refused" and v.reason.startswith("over budget: building this model's exact tables")
    assert check_certificate(cert, budget=Budget()).verdict == "accepted"


# --- the enumeration of a leaf ------------------------------------------------------------------------------------

def _brute_inputs(K, node):
    """The node's inputs by definition: every (K-1)-tuple of tokens < m+1 with n_t tokens in bin t and the rest m."""
    _, m, bins = node
    out = []
    for toks in itertools.product(range(m + 1), repeat=K - 1):
        lo, inside = 0, True
        for n, hi in bins:
            inside &= sum(lo <= t < hi for t in toks) == n
            lo = hi
        if inside and toks.count(m) == K - 1 - sum(n for n, _ in bins):
            out.append(toks)
    return out


def _random_nodes(count, seed):
    rng = random.Random(seed)
    for _ in range(count):
        K, m = rng.randint(1, 6), rng.randint(0, 6)
        his = sorted(rng.sample(range(1, m), rng.randint(0, m - 1))) + [m] if m >= 2 else [m]
        counts, left = [], K - 1
        for _ in his:
            counts.append(rng.randint(0, left) if m >= 1 else 0)
            left -= counts[-1]
        yield K, (rng.randint(0, m), m, tuple(zip(counts, his)))


@pytest.mark.parametrize("chunk", [1, 3, 7, None])
def test_enumeration_equals_a_brute_enumeration(chunk):
    """Every input of the node exactly once (the same set as the definition), for nodes with bins of width 1 and
    more, empty bins, no m-positions, and K = 1."""
    for K, node in _random_nodes(40 if chunk == 1 else 150, chunk or 0):
        got = [tuple(row) for block in bnb.iter_node_inputs(K, node, chunk) for row in block.tolist()]
        want = _brute_inputs(K, node)
        assert len(got) == len(want) == bnb.node_size(K, node), (K, node)
        assert Counter(got) == Counter(want), (K, node)
        if chunk is not None:
            assert all(len(block) <= chunk for block in bnb.iter_node_inputs(K, node, chunk))


def test_enumeration_order_is_lexicographic_by_placement():
    """Placements in lexicographic order of their type indices, each with its tokens in mixed radix: the order of
    the earlier recursive enumeration (so batches hold the same inputs as before)."""
    K, node = 5, (0, 5, ((1, 2), (2, 5)))  # types: m (1 position), [0, 2) (1), [2, 5) (2)
    types = bnb.node_types(K, node)
    want = []
    for pattern in sorted(set(itertools.permutations([0] * 1 + [1] * 1 + [2] * 2))):
        want += itertools.product(*(range(types[t][0], types[t][1]) for t in pattern))
    got = [tuple(row) for block in bnb.iter_node_inputs(K, node, 5) for row in block.tolist()]
    assert got == want


def test_placement_unranking_in_exact_integers():
    """The unranking gives the same placements with int64 and with Python integers (the latter used when a rank
    or product could pass 2^62), each once, in lexicographic order."""
    for counts in ([3, 0, 2], [0, 4], [1, 1, 1, 2], [5]):
        total = len(set(itertools.permutations(sum(([t] * n for t, n in enumerate(counts)), []))))
        small = bnb._placements_from(counts, total, 0, total, np.int64).T.tolist()
        big = bnb._placements_from(counts, total, 0, total, object).T.tolist()
        assert small == big == sorted(map(list, set(map(tuple, small)))) and len(small) == total
        if total > 3:
            assert bnb._placements_from(counts, total, 2, total - 3, np.int64).T.tolist() == small[2:-1]


def test_enumeration_steps_do_not_grow_with_the_placements(monkeypatch):
    """A leaf of K 200 with two tokens below m has C(199, 2) = 19701 placements of one input each: the old
    enumeration made a chunk (and O(K) Python steps) per placement; now one chunk per enumeration_rows(K) inputs."""
    calls = []
    unrank = bnb._placements_from
    monkeypatch.setattr(bnb, "_placements_from", lambda *a: calls.append(a[3]) or unrank(*a))
    K, node = 200, (1, 1, ((2, 1),))
    blocks = list(bnb.iter_node_inputs(K, node))
    size = bnb.node_size(K, node)
    assert size == comb(199, 2) == sum(len(b) for b in blocks)
    assert len(blocks) == len(calls) == -(-size // bnb.enumeration_rows(K))
    assert sum(calls) <= size + len(blocks)  # each placement unranked once (a chunk's last maybe twice)


def test_enumeration_of_the_longest_context_needs_no_recursion():
    """n_ctx 1025 (the schema's limit): the recursive enumeration needed ~K frames ("recursion too deep" from
    n_ctx ~995); the iterative one runs under a recursion limit of 100."""
    K, node = 1025, (1, 1, ((1, 1),))
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(100)
    try:
        rows = np.concatenate(list(bnb.iter_node_inputs(K, node)))
    finally:
        sys.setrecursionlimit(old)
    assert rows.shape == (1024, 1024) and np.array_equal(rows.sum(axis=1), np.full(1024, 1023))
    assert np.array_equal(np.argmin(rows, axis=1), np.arange(1023, -1, -1))  # type 0 (the max) first


def _one_enumerated_leaf(cfg, params, leaf):
    """A branch-and-bound witness: every root given up except `leaf`, enumerated with its true count."""
    flint.ctx.prec = 128
    roots = list(bnb.roots(cfg.d_vocab, cfg.n_ctx))
    index = roots.index(leaf)
    count = bnb._enumerated_counts(build_tables(cfg, params), [(index, leaf)], {"ops": 0, "exact_path": 0})[index]
    rows = [bnb.node_row(bnb.ENUMERATED if r == leaf else bnb.GIVEN_UP, count if r == leaf else 0, 0, r)
            for r in roots]
    return {"nodes": rows}, Fraction(count, cfg.d_vocab ** cfg.n_ctx)


@pytest.mark.parametrize("K,leaf", [(300, (1, 1, ((2, 1),))), (1025, (1, 1, ((1, 1),)))])
def test_long_enumerated_leaves_are_accepted_within_the_limits(tmp_path, K, leaf):
    """The issue's leaf (d_vocab 2, two tokens below the max; at n_ctx 980 its 478,731 placements took 812 CPU-s)
    at n_ctx 300 (44,551 inputs), and a leaf at the schema's n_ctx limit (refused as "recursion too deep")."""
    cfg = ModelConfig(2, 1, 1, K)
    params = random_params(cfg, 1)
    witness, claim = _one_enumerated_leaf(cfg, params, leaf)
    path = _write(tmp_path / "leaf.cert", cfg, params, "branch-and-bound", witness, claim)
    code, lines, err = _certcheck(path)
    assert code == 0 and len(lines) == 1 and lines[0].startswith(f"ACCEPTED {path}: accuracy >= "), (lines, err)
    v = check_file(path, budget=Budget())
    assert v.verdict == "accepted" and v.result.details["inputs_enumerated"] == bnb.node_size(K, leaf)
    assert schema_estimate("branch-and-bound", 1, cfg, witness, params)[0] >= v.result.proof_length


def test_the_enumeration_estimate_charges_every_placement():
    """At n_ctx 980 the issue's leaf was estimated at 6.67e9 (a flat 1e4 a placement) and took 812 CPU-s; the
    estimate now charges the unranking per placement, position and type and the fast path per input and position:
    at least 2 units (the budget's 20 ns) per input and position."""
    cfg = ModelConfig(2, 1, 1, 980)
    leaf = (1, 1, ((2, 1),))
    size = bnb.node_size(cfg.n_ctx, leaf)
    assert size == bnb.placements(cfg.n_ctx, leaf) == 478731
    work = bnb.enumeration_work(cfg, leaf)
    assert work >= bnb.enumerate_ops(cfg, size) + 2 * size * (cfg.n_ctx - 1) * 2


# --- cubic: a malformed top_outputs, and the count over a long context --------------------------------------------

@pytest.mark.parametrize("top", ["2", [1, 2], [[1]], Fraction(1, 2), -1, 3, 10 ** 30])
def test_cubic_top_outputs_must_be_an_integer_in_range(tmp_path, top):
    """A string or a vector was an internal TypeError in cubic.estimate (exit 2 "MALFORMED ... internal error", and
    check_file raised); now it is rejected with the reason, exit 1."""
    cfg = ModelConfig(4, 2, 2, 3)
    params = random_params(cfg, 2)
    path = _write(tmp_path / "top.cert", cfg, params, "cubic", {"direct_path": "top-outputs", "top_outputs": top})
    reason = (f"witness top_outputs (with direct_path top-outputs) must be an integer from 0 to max(0, d_vocab - 2) "
              f"= 2, got {top!r}")
    code, lines, err = _certcheck(path)
    assert code == 1 and lines == [f"REJECTED {path}: {reason}"], (lines, err)
    v = check_file(path, budget=Budget())
    assert v.verdict == "rejected" and v.reason == reason


@pytest.mark.parametrize("value", ["x", [1, 2], [["a"]], Fraction(-1, 3), -5, 10 ** 40, 0])
def test_every_estimate_takes_any_witness_value(value):
    """An estimate runs before the check validates the witness: whatever a witness entry holds, it returns numbers
    (the check then rejects the witness)."""
    import importlib

    cfg = ModelConfig(5, 2, 2, 3)
    params = random_params(cfg, 0)
    for (name, version), check in schema_registry().items():
        estimate = importlib.import_module(check.__module__).estimate
        for key in ("direct_path", "top_outputs", "nodes", "gaps", "attention", "query_factor", "near_max"):
            for witness in ({key: value}, {"direct_path": "top-outputs", key: value}):
                work, memory = estimate(cfg, witness, params)
                assert work > 0 and memory > 0, (name, witness)


def test_inputs_of_cases_is_the_sum_of_binomials_and_powers():
    rng = np.random.default_rng(0)
    for _ in range(60):
        K, G = int(rng.integers(1, 40)), int(rng.integers(1, 7))
        tally = rng.integers(0, 3, (K, G))
        assert inputs_of_cases(K, tally) == sum(int(tally[c, g]) * comb(K - 1, c) * g ** c
                                                for c in range(1, K) for g in range(G))


@pytest.mark.parametrize("direct_path", DIRECT_PATH)
def test_cubic_count_is_the_sum_over_its_cases(direct_path):
    """The tallied count equals the sum over the certified cases (q, m, c) of C(K-1, c) |certified k|^c (c >= 1)
    and 1 (c = 0): the formula it replaces."""
    flint.ctx.prec = 128
    for V, K, seed in ((5, 3, 0), (6, 4, 1), (4, 6, 2), (3, 1, 4), (7, 5, 5)):
        cfg = ModelConfig(V, 4, 4, K)
        out = cubic_counts(build_tables(cfg, random_params(cfg, seed, scale=1.5)), direct_path, collect=True,
                           top_outputs=min(1, V - 2))
        assert out["correct"] == sum(1 if c == 0 else comb(K - 1, c) * len(ks) ** c
                                     for (_, _, c), ks in out["cases"].items())


def test_cubic_over_a_long_context_is_accepted_within_the_limits(tmp_path):
    """d_vocab 2, d_model 1, n_ctx 65536 (1.2 MB): the count comb(K-1, c) g^c per case ran for minutes on integers
    of 20,000 digits, and a bound with such a denominator could not be printed (Python's 4300-digit limit)."""
    cfg = ModelConfig(2, 1, 1, 1 << 16)
    params = random_params(cfg, 3)
    path = _write(tmp_path / "long.cert", cfg, params, "cubic", {"direct_path": "joint"})
    code, lines, err = _certcheck(path)
    assert code == 0 and len(lines) == 1, (lines, err[-2000:])
    assert lines[0].startswith(f"ACCEPTED {path}: accuracy >= a fraction with a ")
    assert "-bit denominator (" in lines[0]


def test_fraction_text():
    assert fraction_text(Fraction(3, 4)) == "3/4"
    assert fraction_text(Fraction(1, 2 ** 65536)) == "a fraction with a 65537-bit denominator"
