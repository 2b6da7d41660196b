"""The subcubic schema: every input its witness covers is correct; tampering with gaps is rejected."""

import itertools
from fractions import Fraction

import flint
import numpy as np
import pytest
from reference import exhaustive_accuracy
from small_models import adversarial_models
from test_cubic import _covered, _trained

from checker.certificate import Certificate
from checker.maxofk import build_tables
from checker.schemas.brute_force import ExactEvaluator
from checker.schemas.subcubic import FACTORS, LowRankScores, certified_count, parse_factors, parse_witness
from checker.verify import check_certificate

MODELS = adversarial_models()
# one point per option axis value (the full grid is benchmarks/bench_subcubic_grid.py)
VARIANTS = {
    "drop": {"direct_path": "mean-residual", "attention": "exact", "near_max": "drop"},
    "refine": {"direct_path": "mean-residual", "attention": "exact", "near_max": "refine", "top_outputs": 0},
    "refine-top2": {"direct_path": "mean-residual", "attention": "exact", "near_max": "refine", "top_outputs": 2},
    "query-max": {"direct_path": "query-max", "attention": "exact", "near_max": "refine", "top_outputs": 1},
    "rank1-entrywise": {"direct_path": "mean-residual", "attention": "low-rank", "rank": 1,
                        "attention_error": "entrywise", "near_max": "refine", "top_outputs": 1},
    "rank2-global": {"direct_path": "query-max", "attention": "low-rank", "rank": 2,
                     "attention_error": "global", "near_max": "drop"},
}


def _certificate(cfg, params, variant="refine"):
    from generator.generate import build_certificate

    options = dict(VARIANTS[variant])
    if "rank" in options:
        options["rank"] = min(options["rank"], cfg.d_head)
    cert, _ = build_certificate(cfg, params, "subcubic", options, progress=False)
    return cert


def _covered_by_gaps(gaps, V, K):
    """Inputs the drop variant covers, derived from the witness alone."""
    g = np.array(gaps).reshape(V, V, K)
    for t in itertools.product(range(V), repeat=K):
        q, m = t[-1], max(t)
        nonmax = [x for x in t[:-1] if x != m]
        gap = g[q, m, len(nonmax)]
        if gap > 0 and all(k <= m - gap for k in nonmax):
            yield t


def _check_covered_inputs(cfg, params, variant):
    cert = _certificate(cfg, params, variant)
    verdict = check_certificate(cert)
    assert verdict.verdict == "accepted" and verdict.result.complexity_class == "subcubic"
    V, K = cfg.d_vocab, cfg.n_ctx
    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    options, gaps, bounds = parse_witness(cert.witness, tables)
    assert {k: v for k, v in options.items() if k != "rank"} == {k: v for k, v in VARIANTS[variant].items()
                                                               if k != "rank"}
    cases = certified_count(bounds, gaps, options["near_max"], collect=True,
                            top_outputs=options.get("top_outputs", 0))["cases"]
    covered = list(_covered(cases, V, K))  # the cubic test's coverage rule: class (q, m, c), tokens in its set
    assert Fraction(len(covered), V ** K) == cert.claim
    if options["near_max"] == "drop":
        assert sorted(covered) == sorted(_covered_by_gaps(cert.witness["gaps"], V, K))
    exact = ExactEvaluator(tables)
    assert all(exact.correct(t) for t in covered)
    return cert


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("cfg_args,seed,steps", [((8, 8, 8, 3), 4, 600), ((6, 8, 8, 4), 2, 800), ((10, 8, 8, 2), 1, 600)])
def test_subcubic_covered_inputs_correct_on_trained_models(cfg_args, seed, steps, variant):
    cfg, params, accuracy = _trained(cfg_args, seed, steps)
    cert = _check_covered_inputs(cfg, params, variant)
    assert 0 < cert.claim <= accuracy


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("name,cfg,params", MODELS, ids=[m[0] for m in MODELS])
def test_subcubic_covered_inputs_correct_adversarial(name, cfg, params, variant):
    cert = _check_covered_inputs(cfg, params, variant)
    assert cert.claim <= exhaustive_accuracy(params)


def _exact_qk_factors(params):
    """Query vectors A and key vectors B (EQKE = A B^T) in Fractions, straight from the float32 weights."""
    f = lambda a: [[Fraction(float(x)) for x in row] for row in np.asarray(a, np.float32)]  # noqa: E731
    W_E, W_pos = f(params["embed.W_E"]), f(params["pos_embed.W_pos"])
    W_Q, W_K, b_Q = f(params["blocks.0.attn.W_Q"][0]), f(params["blocks.0.attn.W_K"][0]), f(params["blocks.0.attn.b_Q"])[0]
    matvec = lambda x, W: [sum((x[i] * W[i][j] for i in range(len(x))), Fraction(0)) for j in range(len(W[0]))]  # noqa: E731
    A = [[a + b for a, b in zip(matvec([e + p for e, p in zip(row, W_pos[-1])], W_Q), b_Q)] for row in W_E]
    B = [matvec(row, W_K) for row in W_E]
    return A, B


@pytest.mark.parametrize("error", ["entrywise", "global"])
@pytest.mark.parametrize("factor_kind", ["svd", "random"])
def test_low_rank_enclosure_contains_exact_eqke(error, factor_kind):
    """|EQKE - center| <= radius for every entry, EQKE computed independently; any factors are sound."""
    from generator.generate import low_rank_factors

    cfg, params, _ = _trained((8, 8, 8, 3), 4, 600)
    flint.ctx.prec = 128
    tables = build_tables(cfg, params)
    rng = np.random.default_rng(7)
    if factor_kind == "svd":
        factors = low_rank_factors(tables, 2)
    else:
        shapes = {"query_factor": (8, 2), "query_basis": (2, 8), "key_factor": (8, 2), "key_basis": (2, 8)}
        factors = {n: [[Fraction(int(v), 8) for v in row] for row in rng.integers(-20, 20, shapes[n])] for n in FACTORS}
    scores = LowRankScores(tables, parse_factors(dict(factors), 8, 8), error)
    A, B = _exact_qk_factors(params)
    center = scores.center.ints()
    radius_hits = 0
    for q in range(8):
        for k in range(8):
            exact = sum((a * b for a, b in zip(A[q], B[k])), Fraction(0))
            diff = exact - Fraction(center[q][k]) * Fraction(2) ** scores.center.exp
            r = scores.radius(q, k)
            assert abs(flint.arb(flint.fmpq(diff.numerator, diff.denominator))) <= r.upper(), (q, k)
            radius_hits += abs(diff) > 0
    assert radius_hits > 0  # the residual is not identically zero, so the test exercises the bound


def _variant_certificate(cert, **changes):
    witness = {**cert.witness, **changes}
    return Certificate(1, "subcubic", 2, cert.config, cert.sha256, cert.params,
                       {k: v for k, v in witness.items() if v is not None}, cert.claim, {})


def test_subcubic_gap_tampering_rejected():
    cfg, params, _ = _trained((8, 8, 8, 3), 4, 600)
    cert = _certificate(cfg, params, "drop")
    gaps = [list(row) for row in cert.witness["gaps"]]
    # lowering any claimed gap (claiming more tokens) must fail: the generator's gaps are minimal
    idx = next((r, c) for r, row in enumerate(gaps) for c, g in enumerate(row) if c >= 1 and g >= 2)
    tampered = [list(row) for row in gaps]
    tampered[idx[0]][idx[1]] -= 1
    for witness_gaps, word in [(tampered, "not certified"), (gaps[:-1], "rows"), ([[-1] * 3] + gaps[1:], "range")]:
        v = check_certificate(_variant_certificate(cert, gaps=witness_gaps))
        assert v.verdict == "rejected" and word in v.reason, v.reason
    raised = _variant_certificate(cert)
    raised.claim += Fraction(1, 8 ** 3)
    assert check_certificate(raised).verdict == "rejected"
    for bad in [dict(direct_path="exact"), dict(near_max="guess"), dict(attention=None), dict(attention="svd"),
                dict(attention_error="entrywise")]:  # attention_error is unknown with exact attention
        v = check_certificate(_variant_certificate(cert, **bad))
        assert v.verdict == "rejected", bad
    assert check_certificate(_variant_certificate(cert)).verdict == "accepted"


def test_subcubic_factor_tampering_rejected():
    cfg, params, _ = _trained((8, 8, 8, 3), 4, 600)
    cert = _certificate(cfg, params, "rank1-entrywise")
    assert check_certificate(_variant_certificate(cert)).verdict == "accepted"
    w = cert.witness
    # a direction or factor moved away from the mechanism: the residual grows and claimed cases fail
    for name in FACTORS:
        moved = [list(row) for row in w[name]]
        # the last row: the largest token (factors) or the first direction (bases); still a float32 value
        moved[-1][0] = Fraction(float(np.float32(float(moved[-1][0]) + 100)))
        v = check_certificate(_variant_certificate(cert, **{name: moved}))
        assert v.verdict == "rejected" and "not certified" in v.reason, (name, v.reason)
    bad_values = [
        ("query_basis", [[Fraction(1, 3)] * 8], "float32"),
        ("query_basis", [["x"] * 8], "float32"),
        ("query_basis", [[Fraction(2 ** 24 + 1, 2 ** 30)] * 8], "float32"),  # 25 significant bits
        ("query_basis", [[10 ** 60] * 8], "float32"),  # beyond float32's range
        ("query_basis", [[True] * 8], "float32"),
        ("key_basis", None, "lacks key_basis"),
        ("key_factor", w["key_factor"][:-1], "matrix"),
        ("key_basis", [row + [0] for row in w["key_basis"]], "matrix"),
        ("query_factor", [[]] * 8, "d_vocab x r"),
        ("query_factor", None, "lacks query_factor"),
        ("attention_error", "none", "attention_error"),
        ("attention", "exact", "unknown witness entries"),
    ]
    for name, value, word in bad_values:
        v = check_certificate(_variant_certificate(cert, **{name: value}))
        assert v.verdict == "rejected" and word in v.reason, (name, v.reason)


def test_option_search_keeps_pins_and_ranks_within_d_head():
    from conftest import random_params

    from checker.model import ModelConfig
    from generator.generate import build_certificate

    cfg = ModelConfig(5, 4, 2, 3)
    params = random_params(cfg, 3, scale=1.0, bias_scale=0.5)
    cert, info = build_certificate(cfg, params, "subcubic", {"attention": "low-rank", "near_max": "drop"},
                                   progress=False)
    assert cert.meta["search"] == "tightest of 4 candidates"  # 2 direct paths x ranks 1, 2 (d_head = 2)
    details = info["verdict"].result.details
    assert details["attention"] == "low-rank" and details["near_max"] == "drop" and details["rank"] <= 2
    assert check_certificate(cert).verdict == "accepted"


@pytest.mark.parametrize("top", [-1, 7, Fraction(1), "1"])
def test_refine_top_outputs_out_of_range_rejected(top):
    cfg, params, _ = _trained((8, 8, 8, 3), 4, 600)
    cert = _certificate(cfg, params, "refine")
    cert.witness = {**cert.witness, "top_outputs": top}
    v = check_certificate(cert)
    assert v.verdict == "rejected" and "top_outputs" in v.reason, v.reason


def test_top_outputs_with_drop_rejected():
    cfg, params, _ = _trained((8, 8, 8, 3), 4, 600)
    cert = _certificate(cfg, params, "drop")
    cert.witness = {**cert.witness, "top_outputs": 1}
    v = check_certificate(cert)
    assert v.verdict == "rejected" and "top_outputs" in v.reason, v.reason


def test_refine_top_outputs_certifies_at_least_the_joint_refinement():
    """Each slot of the top-outputs refinement is, term by term, at most the joint one (docs/proofs/subcubic.md),
    so it certifies a superset; on a shipped Max-of-4 model strictly more, and never above brute force."""
    import dataclasses

    from conftest import ROOT

    from checker.certificate import read_certificate

    cert = read_certificate(f"{ROOT}/certificates/max4-v64-s123.subcubic-lowrank.cert")
    brute = read_certificate(f"{ROOT}/certificates/max4-v64-s123.brute-force.cert").claim
    bounds = [check_certificate(dataclasses.replace(cert, witness={**cert.witness, "top_outputs": r})).bound
              for r in (0, 1, 3)]
    assert bounds[0] < bounds[1] <= bounds[2] <= brute, bounds


@pytest.mark.parametrize("seed", range(6))
def test_refine_matches_its_written_tests_on_random_bounds(seed):
    """`SubcubicBounds.refine` against the tests of docs/proofs/subcubic.md written out one output at a time, on
    random bound tables (not from a model, so that the rest slot is not masked by the other terms): the rest test
    at the (r+1)-th largest w_j(k), and for each of the r largest its per-output test."""
    import math

    from checker.exact import mul_upper, up
    from checker.schemas.subcubic import SubcubicBounds
    from test_fuzz_soundness import fuzz_model

    cfg, params = fuzz_model(seed)
    while cfg.d_vocab < 5 or cfg.n_ctx < 2:
        seed += 100
        cfg, params = fuzz_model(seed)
    flint.ctx.prec = 128
    b = SubcubicBounds(build_tables(cfg, params))
    V, K = b.V, b.K
    rng = np.random.default_rng(seed)
    lo_hi = lambda shape, s: (lambda x: (x, x + abs(rng.normal(0, 0.01, shape))))(rng.normal(0, s, shape))
    b.eupu_lo, b.eupu_hi = lo_hi((V, V), 1.0)
    b.evou_lo, b.evou_hi = lo_hi((V, V), 3.0)
    b.pos_nq, b.pos_q = rng.normal(0, 0.5, (V, V)), rng.normal(0, 0.5, (V, V))
    b.e_lo, b.e_hi = (lambda x: (x, x * 1.01))(rng.uniform(0.01, 1.0, (V, V)))
    b.a_lo, b.a_hi = (lambda x: (x, x * 1.01))(rng.uniform(0.01, 1.0, (V, K)))
    b.d, b.y, b.x = rng.normal(-1, 1, V), rng.normal(0, 1, (V, V)), rng.normal(0, 1, (V, V))
    rows = np.array([(q, m, c, k) for m in range(2, V) for q in range(m + 1) for c in range(1, K)
                     for k in range(m) if q < m or c <= K - 1], dtype=np.int64)
    p_pre = rng.normal(-2, 1, (V, V, K))

    def passes(q, m, c, a_term, c_term, p):
        f = b._placement_bounds(np.array([q]), a_term[None], np.array([c_term]), np.array([p]))[0, c]
        return math.isfinite(f) and f < 0

    for top in sorted({0, 1, 2, V - 2}):
        got, _ = b.refine(rows, p_pre, top)
        want = []
        for q, m, c, k in rows.tolist():
            direct = up(b.eupu_hi[q] - b.eupu_lo[q, m])
            w = up(up(direct + up(b.evou_hi[k] - b.evou_lo[k, m])) + b.pos_nq[m])
            outputs = sorted((j for j in range(V) if j != m), key=lambda j: -w[j])
            _, a_term, c_term = b._common(np.array([q]), np.array([m]))
            a_term, c_term = a_term[0], c_term[0]
            ok = passes(q, m, c, a_term, c_term,
                        max(p_pre[q, m, c], mul_upper(b.e_lo[q, k], b.e_hi[q, k], w[outputs[top]])))
            for j in outputs[:top]:
                w_m = up(up(direct[j] + up(b.evou_hi[m, j] - b.evou_lo[m, m])) + b.pos_nq[m, j])
                w_q = up(up(direct[j] + up(b.evou_hi[q, j] - b.evou_lo[q, m])) + b.pos_q[m, j])
                a_j = np.minimum(a_term, mul_upper(b.a_lo[q, : K - 1], b.a_hi[q, : K - 1],
                                                   mul_upper(b.e_lo[q, m], b.e_hi[q, m], w_m)))
                c_j = min(c_term, mul_upper(b.a_lo[q, K - 1], b.a_hi[q, K - 1],
                                            mul_upper(b.e_lo[q, q], b.e_hi[q, q], w_q)))
                ok = ok and passes(q, m, c, a_j, c_j, max(p_pre[q, m, c], mul_upper(b.e_lo[q, k], b.e_hi[q, k], w[j])))
            want.append(ok)
        assert got.tolist() == want, top
        assert 0 < sum(want) < len(want)  # both verdicts occur: the comparison means something
