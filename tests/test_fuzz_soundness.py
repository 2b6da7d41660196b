"""Soundness fuzz (compact): on many small generated models, every input that the cubic or subcubic
argument covers is correct according to the exact evaluator, and each count equals its covered inputs.

The models mix what breaks float reasoning: scales from 0 and subnormal to 1e38, exact ties (small
integer weights, duplicated embedding rows and unembedding columns), nonzero biases, d_vocab 1..9,
n_ctx 1..4, and a near-correct "designed" max model so that the schemas certify many inputs.
A longer campaign is the same loop over more seeds (FUZZ_SEEDS=2000 pytest tests/test_fuzz_soundness.py).
"""

import itertools
import os
from fractions import Fraction

import flint
import numpy as np
import pytest

from checker.certificate import Certificate
from checker.maxofk import build_tables
from checker.model import ModelConfig, check_params, weights_sha256
from checker.schemas.brute_force import ExactEvaluator, count_correct
from checker.schemas.cubic import DIRECT_PATH, cubic_counts
from checker.schemas.subcubic import FACTORS, LowRankScores, SubcubicBounds, certified_count, parse_factors
from checker.verify import check_certificate
from test_cubic import _covered

N_SEEDS = int(os.environ.get("FUZZ_SEEDS", "120"))
SCALES = [0.0, 1e-45, 1e-38, 1e-20, 1e-6, 1e-3, 0.1, 1.0, 3.0, 30.0, 1e3, 1e9, 1e15, 1e20, 1e30, 1e38]


def _designed(rng, cfg):
    """A near-correct max model: attention grows with the token, the OV circuit reads the token out."""
    V = cfg.d_vocab
    p = {n: np.zeros(s, np.float32) for n, s in cfg.shapes().items()}
    t = np.arange(V, dtype=np.float64)
    p["embed.W_E"][:, 0], p["embed.W_E"][:, 1] = t, 1.0
    p["blocks.0.attn.W_Q"][0, 1, 0] = float(rng.choice([0.5, 2.0, 8.0, 50.0, 1e3]))
    p["blocks.0.attn.W_K"][0, 0, 0] = 1.0
    p["blocks.0.attn.W_V"][0, 0, 0] = p["blocks.0.attn.W_V"][0, 1, 1] = 1.0
    p["blocks.0.attn.W_O"][0, 0, 2] = p["blocks.0.attn.W_O"][0, 1, 3] = 1.0
    p["unembed.W_U"][2, :], p["unembed.W_U"][3, :] = 2 * t, -t * t
    return p


def fuzz_model(seed):
    rng = np.random.default_rng(seed)
    while True:
        V = int(rng.integers(1, 10)) if rng.random() < 0.05 else int(rng.integers(2, 10))
        K = int(rng.integers(1, 5))
        if V ** K <= 1024:
            break
    dm, dh = int(rng.integers(1, 7)), int(rng.integers(1, 7))
    kind = str(rng.choice(["random", "mixed", "designed", "ties"], p=[0.2, 0.2, 0.4, 0.2]))
    if kind == "designed":
        dm, dh = max(dm, 4), max(dh, 2)
    cfg = ModelConfig(V, dm, dh, K)
    shapes = cfg.shapes()
    if kind == "random":
        s = float(rng.choice(SCALES[4:]))
        b = float(rng.choice([0.0, 0.1 * s, s]))
        p = {n: rng.standard_normal(sh) * (b if n.split(".")[-1].startswith("b_") else s) for n, sh in shapes.items()}
    elif kind == "mixed":  # each tensor its own scale, subnormal to huge
        p = {n: rng.standard_normal(sh) * float(rng.choice(SCALES)) for n, sh in shapes.items()}
    elif kind == "designed":
        p = _designed(rng, cfg)
        noise = float(rng.choice([0.0, 1e-3, 0.05, 0.3]))
        p = {n: a + rng.standard_normal(a.shape) * noise * (rng.random() < 0.7) for n, a in p.items()}
        if rng.random() < 0.5:
            n = str(rng.choice(["unembed.W_U", "blocks.0.attn.W_O", "blocks.0.attn.W_Q", "embed.W_E"]))
            p[n] = p[n] * 2.0 ** int(rng.integers(-60, 60))
    else:  # small integers: exact ties in scores and logits; some tensors zero, tiny or huge
        p = {n: rng.integers(-2, 3, sh).astype(np.float64) for n, sh in shapes.items()}
        for n in p:
            r = rng.random()
            if r < 0.15:
                p[n][:] = 0
            elif r < 0.3:
                p[n] = p[n] * float(rng.choice([1e-45, 1e-20, 1e15, 1e30]))
    p = {n: np.clip(np.asarray(a, np.float64), -3e38, 3e38).astype(np.float32) for n, a in p.items()}
    if rng.random() < 0.3 and V >= 2:
        a, b = rng.choice(V, 2, replace=False)
        p["embed.W_E"][a] = p["embed.W_E"][b]
    if rng.random() < 0.2 and V >= 2:
        a, b = rng.choice(V, 2, replace=False)
        p["unembed.W_U"][:, a] = p["unembed.W_U"][:, b]
        p["unembed.b_U"][a] = p["unembed.b_U"][b]
    if rng.random() < 0.15 and K >= 2:
        p["pos_embed.W_pos"][:] = p["pos_embed.W_pos"][0]
    if rng.random() < 0.2:
        p[str(rng.choice(list(p)))][:] = 0
    if rng.random() < 0.15:
        p[str(rng.choice(list(p)))].reshape(-1)[0] = np.float32(1e-45)
    check_params(cfg, p)
    return cfg, p


def table_model(seed):
    """A model whose path tables are chosen directly (one-hot embeddings, identity maps): EQKE, EQKP, EVOU,
    PVOU and EUPU are small integers times powers of two, max-like or not, so that the schemas'
    pessimisations become nearly exact and their mistakes would show."""
    rng = np.random.default_rng(seed)
    while True:
        V, K = int(rng.integers(2, 7)), int(rng.integers(1, 6))
        if V ** K <= 2100:
            break
    d = 2 * V + 2 * K
    cfg = ModelConfig(V, d, d, K)

    def small(*shape):
        top = int(rng.choice([1, 2, 4, 16]))
        return rng.integers(-top, top + 1, shape).astype(np.float64)

    eqke = small(V, V) + (rng.random() < 0.6) * float(rng.choice([1, 2, 8, 64])) * np.arange(V)[None, :]
    eqkp = small(V, K) * (rng.random() < 0.6)
    evou = small(V, V)
    if rng.random() < 0.6:
        evou = evou + float(rng.choice([1, 2, 8])) * (np.eye(V) * 2 - 1)
    pvou = small(K, V) * (rng.random() < 0.7)
    if rng.random() < 0.6:  # max-like: attention grows with the token, OV copies it, noise at a chosen level
        level = float(rng.choice([0, 0.25, 0.5, 1]))
        eqke = float(rng.choice([1, 2, 4, 16])) * np.arange(V)[None, :] + np.round(small(V, V) * level)
        evou = float(rng.choice([4, 16, 64])) * np.eye(V) + np.round(small(V, V) * level * 4)
        pvou = np.round(small(K, V) * level)
    if rng.random() < 0.4:
        pvou[:] = pvou[0]
    eupu = small(V, V)
    if rng.random() < 0.5:
        eupu[:] = eupu[0]
    for table in (eqke, eqkp, evou, pvou, eupu):
        if rng.random() < 0.2:
            table *= 2.0 ** int(rng.integers(-40, 40))
    if rng.random() < 0.3:
        scale = 2.0 ** int(rng.integers(-60, 30))
        eqke *= scale
        eqkp *= scale
    p = {n: np.zeros(shape) for n, shape in cfg.shapes().items()}
    for t in range(V):
        p["embed.W_E"][t, t] = p["embed.W_E"][t, V + t] = 1
    for i in range(K):
        p["pos_embed.W_pos"][i, 2 * V + i] = p["pos_embed.W_pos"][i, 2 * V + K + i] = 1
    p["blocks.0.attn.W_Q"][0] = np.eye(d)
    score = np.zeros((d, d))  # score = x_q score x_i^T, so W_K = score^T
    score[:V, :V] = eqke
    score[:V, 2 * V: 2 * V + K] = eqkp
    p["blocks.0.attn.W_K"][0] = score.T
    for t in range(V):
        p["blocks.0.attn.W_V"][0, V + t, V + t] = 1
    for i in range(K):
        p["blocks.0.attn.W_V"][0, 2 * V + K + i, 2 * V + K + i] = 1
    p["blocks.0.attn.W_O"][0] = np.eye(d)
    p["unembed.W_U"][V: 2 * V] = evou
    p["unembed.W_U"][2 * V + K: 2 * V + 2 * K] = pvou
    p["unembed.W_U"][:V] = eupu - evou - pvou[K - 1][None, :]  # EUPU[q] = W_U[q] + EVOU[q] + PVOU[K-1]
    p = {n: a.astype(np.float32) for n, a in p.items()}
    check_params(cfg, p)
    return cfg, p


def _assert_sound(cases, count, truth, V, K, what):
    covered = list(_covered(cases, V, K))
    assert len(covered) == count, f"{what}: count {count} != covered {len(covered)}"
    wrong = [t for t in covered if not truth[t]]
    assert not wrong, f"{what}: certifies wrong inputs {wrong[:5]}"


@pytest.mark.parametrize("seed", range(N_SEEDS))
def test_fuzz_covered_inputs_correct(seed):
    cfg, p = table_model(seed) if seed % 3 == 2 else fuzz_model(seed)
    V, K = cfg.d_vocab, cfg.n_ctx
    flint.ctx.prec = 128
    tables = build_tables(cfg, p)
    exact = ExactEvaluator(tables)
    truth = {t: exact.correct(t) is True for t in itertools.product(range(V), repeat=K)}
    for direct_path in DIRECT_PATH:
        for top in sorted({0, 1, V - 2} & set(range(max(1, V - 1)))) if direct_path == "top-outputs" else [0]:
            got = cubic_counts(tables, direct_path, collect=True, top_outputs=top)
            _assert_sound(got["cases"], got["correct"], truth, V, K, f"cubic {direct_path} {top}")
    from generator.generate import low_rank_factors, search_gaps

    bounds = SubcubicBounds(tables)
    for direct_path in ("mean-residual", "query-max"):  # the generator's gaps (smallest certifying gap per class)
        variant_bounds = bounds if direct_path == "mean-residual" else SubcubicBounds(tables, direct_path)
        gaps = np.array(search_gaps(variant_bounds), dtype=np.int64).reshape(V, V, K)
        for near_max, top in [("drop", 0)] + [("refine", t) for t in sorted({0, 1, V - 2} & set(range(max(1, V - 1))))]:
            res = certified_count(variant_bounds, gaps, near_max, collect=True, top_outputs=top)
            assert not res["failing"].any()
            _assert_sound(res["cases"], res["count"], truth, V, K, f"subcubic {direct_path} {near_max} {top}")
    # low-rank attention with the generator's factors and with arbitrary ones (any factors are sound)
    rng = np.random.default_rng(seed + 2000)
    rank = int(rng.integers(1, cfg.d_head + 1))
    shapes = {"query_factor": (V, rank), "query_basis": (rank, cfg.d_head), "key_factor": (V, rank),
              "key_basis": (rank, cfg.d_head)}
    for factors in (low_rank_factors(tables, rank),
                    {n: [[Fraction(int(v), 2 ** int(rng.integers(0, 6))) for v in row]
                         for row in rng.integers(-9, 10, shapes[n])] for n in FACTORS}):
        error = str(rng.choice(["entrywise", "global"]))
        scores = LowRankScores(tables, parse_factors(dict(factors), V, cfg.d_head), error)
        low_rank = SubcubicBounds(tables, str(rng.choice(["mean-residual", "query-max"])), scores)
        gaps = np.array(search_gaps(low_rank), dtype=np.int64).reshape(V, V, K)
        near_max = str(rng.choice(["drop", "refine"]))
        res = certified_count(low_rank, gaps, near_max, collect=True, top_outputs=int(rng.integers(0, max(1, V - 1))))
        assert not res["failing"].any()
        _assert_sound(res["cases"], res["count"], truth, V, K, f"subcubic low-rank {error} {near_max}")
    # arbitrary gaps (any in-range value, invalid classes included), kept where the checker certifies them
    rng = np.random.default_rng(seed + 1000)
    m = np.arange(V)[None, :, None]
    g = np.where(rng.random((V, V, K)) < 0.7, rng.integers(0, V + 1, (V, V, K)), 0)
    g[:, :, 1:] = np.minimum(g[:, :, 1:], np.broadcast_to(m, (V, V, K))[:, :, 1:])
    g[:, :, 0] = np.minimum(g[:, :, 0], 1)
    g[np.arange(V)[:, None] > np.arange(V)[None, :]] = 0
    f, _, _ = bounds.case_bounds(g)
    g = np.where(np.isfinite(f) & (f < 0), g, 0)
    near_max = str(rng.choice(["drop", "refine"]))
    res = certified_count(bounds, g, near_max, collect=True)
    _assert_sound(res["cases"], res["count"], truth, V, K, f"subcubic random gaps {near_max}")
    cert = Certificate(1, "subcubic", 2, cfg, weights_sha256(cfg, p), p,
                       {"direct_path": "mean-residual", "attention": "exact", "near_max": near_max,
                        "gaps": g.reshape(V * V, K).tolist()},
                       Fraction(res["count"], V ** K), {})
    assert check_certificate(cert).verdict == "accepted"
    # brute force: never above the exact evaluator, and only undecided inputs below it
    bf = count_correct(tables)
    n_true = sum(truth.values())
    assert bf["correct"] <= n_true <= bf["correct"] + bf["undecided"]


def _overflow_model():
    """Value tables whose exact integers exceed 2^1024 at the common exponent (subnormal entries in W_E,
    W_V, W_O, W_U push it to -688) while the values, about 2^336, fit a float. The model is wrong on input
    (0,): logit[1] - logit[0] = 1.87 * 2^336 > 0 (EVOU[0, 1] = -1.1 T, EVOU[0, 0] = -0.99 T,
    PVOU[0] = (-0.99 T, 0.99 T), T = 2^336)."""
    V, dm, dh, K = 2, 2, 2, 1
    cfg = ModelConfig(V, dm, dh, K)
    tiny, big = np.float32(2.0 ** -149), np.float32(2.0 ** 100)
    z = lambda *s: np.zeros(s, np.float32)  # noqa: E731
    p = {"embed.W_E": np.array([[-0.99 * 2 ** 36, -1.1 * 2 ** 36], [tiny, 0]], np.float32),
         "pos_embed.W_pos": np.array([[-0.99 * 2 ** 36, 0.99 * 2 ** 36]], np.float32),
         "blocks.0.attn.W_Q": z(1, dm, dh), "blocks.0.attn.W_K": z(1, dm, dh),
         "blocks.0.attn.W_V": np.array([[[big, tiny], [0, big]]], np.float32),
         "blocks.0.attn.W_O": np.array([[[big, tiny], [0, big]]], np.float32),
         "blocks.0.attn.b_Q": z(1, dh), "blocks.0.attn.b_K": z(1, dh), "blocks.0.attn.b_V": z(1, dh),
         "blocks.0.attn.b_O": z(dm), "unembed.W_U": np.array([[big, tiny], [0, big]], np.float32),
         "unembed.b_U": z(V)}
    check_params(cfg, p)
    return cfg, p


@pytest.mark.parametrize("schema,witness", [
    ("cubic", {"direct_path": "joint"}),
    ("cubic", {"direct_path": "separate"}),
    ("cubic", {"direct_path": "per-output"}),
    ("cubic", {"direct_path": "top-outputs", "top_outputs": 0}),
    ("subcubic", {"direct_path": "mean-residual", "attention": "exact", "near_max": "drop",
                  "gaps": [[1], [0], [0], [1]]}),
    ("subcubic", {"direct_path": "query-max", "attention": "exact", "near_max": "refine",
                  "gaps": [[1], [0], [0], [1]]}),
    ("subcubic", {"direct_path": "mean-residual", "attention": "low-rank", "attention_error": "entrywise",
                  "query_factor": [[0], [0]], "query_basis": [[0, 0]], "key_factor": [[0], [0]],
                  "key_basis": [[0, 0]], "near_max": "refine", "gaps": [[1], [0], [0], [1]]}),
])
def test_table_integers_beyond_float_range(schema, witness):
    cfg, p = _overflow_model()
    flint.ctx.prec = 128
    assert ExactEvaluator(build_tables(cfg, p)).correct((0,)) is False  # so the accuracy is 1/2
    cert = Certificate(1, schema, 2 if schema == "subcubic" else 1, cfg, weights_sha256(cfg, p), p, witness,
                       Fraction(1), {})
    verdict = check_certificate(cert)
    # rejected by the bound itself (a case that fails or a claim above the bound), not by a format error
    assert verdict.verdict == "rejected" and ("not certified" in verdict.reason or "exceeds" in verdict.reason), \
        verdict.reason


def test_gap_beyond_int64_is_rejected():
    cfg = ModelConfig(3, 2, 2, 2)
    p = {n: np.zeros(s, np.float32) for n, s in cfg.shapes().items()}
    gaps = [[0, 0] for _ in range(9)]
    gaps[8][1] = 10 ** 30
    cert = Certificate(1, "subcubic", 2, cfg, weights_sha256(cfg, p), p,
                       {"direct_path": "mean-residual", "attention": "exact", "near_max": "drop", "gaps": gaps},
                       Fraction(0), {})
    verdict = check_certificate(cert)
    assert verdict.verdict == "rejected" and "range" in verdict.reason
