"""The cubic schema (docs/proofs/cubic.md) as an exported program, in integer fixed point.

The argument is the checker's (checker/schemas/cubic.py); the arithmetic differs: the value tables are
rounded outward to integers at scale 2^(e_v + hint_value_shift) instead of float64 intervals, the
softmax factors are fixed-point intervals at scale 2^p from `weight_bounds` instead of arb balls, and
every product that feeds an upper bound is rounded up (`mulup`). Each quantity is therefore an upper
bound of the same real quantity as in cubic.md, so the count is a valid lower bound; the exporter
checks (by running the program) that it reaches the certificate's claim.
"""

from __future__ import annotations

from generator.export.common import base_header, exp_terms, program, sqrt_hints
from generator.export.ir import (
    BOOL, INT, IPAIR, LINT, MAT, Bool, Field, Int, ListLit, Record, RecordLit, TList, TRec, call, case, if_, lam, lets, op, pair,
    v,
)
from generator.export.library import FLOAT, NIL_INT, fld, fn, foldl, fst, land, lmap, rng, snd, zmax

PMAT = TList(TList(FLOAT))  # matrix of floating intervals ((lo, hi), s)
NIL_PAIRS = ListLit((), IPAIR)
ZERO_PAIR = pair(0, 0)

HINT_FIELDS = [("hint_prec", INT), ("hint_terms", INT), ("hint_inv_bits", INT), ("hint_sqrt_bits", INT),
               ("hint_sqrt_root", INT), ("hint_value_shift", INT), ("joint", BOOL)]

BOUNDS_FIELDS = [("bv", INT), ("bk", INT), ("bp", INT), ("bjoint", BOOL),
                 ("ev_lo", MAT), ("ev_hi", MAT), ("pv_lo", MAT), ("pv_hi", MAT), ("eu_lo", MAT), ("eu_hi", MAT),
                 ("etok", PMAT), ("epos", PMAT)]


def op_field(name):
    """A field of the Bounds record `b`."""
    return Field(v("b"), "Bounds", name)


def schema_defs() -> list:
    d = []
    x, s = v("x"), v("s")
    d.append(fn("round_lo", [("m", MAT), ("s", INT)], MAT,
                lmap(lam([("r", LINT)], lmap(lam([("x", INT)], op("shr", x, s)), v("r"))), v("m")),
                "Each entry x rounded down to a multiple of 2^s, divided by 2^s: floor(x / 2^s)."))
    d.append(fn("round_hi", [("m", MAT), ("s", INT)], MAT,
                lmap(lam([("r", LINT)], lmap(lam([("x", INT)], call("zcshr", x, s)), v("r"))), v("m")),
                "ceil(x / 2^s) for each entry."))
    d.append(fn("exp_table", [("m", MAT), ("cb", IPAIR), ("es", INT), ("g", INT), ("p", INT), ("n", INT)],
                TList(TList(FLOAT)),
                lmap(lam([("r", LINT)],
                         lets([("top", call("vmax", v("r")))],
                              lmap(lam([("x", INT)], call("fweight_bounds", v("top") - x, v("cb"), v("es"), v("g"), v("p"),
                                                          v("n"))), v("r")))), v("m")),
                "Row by row, floating bounds of exp((x - max of the row) 2^es / sqrt(d_head)) for each entry x: "
                "E[q][t] from EQKE and alpha[q][i] from EQKP (the per-query constants cancel in every sign)."))
    w, b, p = v("w"), v("b"), v("p")
    d.append(fn("mulup", [("w", IPAIR), ("b", INT), ("p", INT)], INT,
                call("zcshr", if_(Int(0).le(b), snd(w) * b, fst(w) * b), p),
                "For 0 <= lo <= 2^p a <= hi with w = (lo, hi), and a real B <= b: an upper bound of a B "
                "(hi b if b >= 0, else lo b; divided by 2^p, rounded up). Non-decreasing in b."))
    d.append(fn("mulup_list", [("ws", TList(IPAIR)), ("bs", LINT), ("p", INT)], LINT,
                case(v("ws"), NIL_INT, "w", "ws2",
                     case(v("bs"), NIL_INT, "b", "bs2",
                          op("cons", call("mulup", w, b, p), call("mulup_list", v("ws2"), v("bs2"), p)))),
                "mulup elementwise.", True, "ws"))
    d.append(fn("insert_desc", [("x", INT), ("l", LINT)], LINT,
                case(v("l"), ListLit((x,), INT), "h", "t",
                     if_(v("h").le(x), op("cons", x, op("cons", v("h"), v("t"))),
                         op("cons", v("h"), call("insert_desc", x, v("t"))))),
                "Insert x into a list sorted in decreasing order.", True, "l"))
    d.append(fn("sort_desc", [("l", LINT)], LINT,
                foldl(lam([("acc", LINT), ("x", INT)], call("insert_desc", x, v("acc"))), NIL_INT, v("l")),
                "Sort in decreasing order."))
    d.append(fn("minus_col", [("rows", MAT), ("lo", MAT), ("m", INT)], MAT, _minus_col_body(),
                "Row by row (as many rows as both have): rows[i][j] - lo[i][m] for every column j != m.",
                True, "rows"))

    # ---- one (q, m): the W bounds, the softmax-weighted terms, and the certified k per c ----
    m, q, K = v("m"), v("q"), v("bk")
    d.append(fn("cubic_qm", [("b", TRec("Bounds")), ("m", INT), ("q", INT), ("dq", LINT), ("ovnq", MAT), ("ovq", LINT)],
                INT, _qm_body(), "The number of inputs with query q and maximum m that the cubic argument proves "
                "correct: the classes (q, m, c), c = 0 .. K-1 (see cubic.md, steps 1-2)."))
    d.append(fn("cubic_m", [("b", TRec("Bounds")), ("m", INT)], INT, _m_body(),
                "The number of inputs with maximum m proven correct (every query q <= m)."))
    d.append(fn("mk_bounds", [("d", TRec("Data"))], TRec("Bounds"), _bounds_body(),
                "The rounded value tables and the softmax factor bounds, computed once."))
    d.append(fn("cubic_count", [("d", TRec("Data"))], INT,
                lets([("b", call("mk_bounds", v("d")))],
                     foldl(lam([("acc", INT), ("m", INT)], v("acc") + call("cubic_m", v("b"), m)), 0,
                           rng(fld("d_vocab")))),
                "The number of inputs proven correct, summed over the maximum m."))
    V, Kd = fld("d_vocab"), fld("n_ctx")
    num, den = fld("claim_num"), fld("claim_den")
    d.append(fn("check", [("d", TRec("Data"))], BOOL,
                land(call("shapes_ok", v("d")),
                     land(land(fld("hint_prec").ge(1), land(fld("hint_terms").ge(0), fld("hint_value_shift").ge(0))),
                          land(land(fld("hint_inv_bits").ge(0), call("sqrt_ok", fld("d_head"), fld("hint_sqrt_bits"), fld("hint_sqrt_root"))),
                               land(land(Int(0).le(num), Int(0).lt(den)),
                                    (num * call("zpow", V, Kd)).le(call("cubic_count", v("d")) * den))))),
                "The claim num/den is at most (inputs proven correct) / d_vocab^n_ctx."))
    return d


def _minus_col_body():
    sub = lets([("c", call("lnth", v("l"), v("m"), 0))],
               lmap(lam([("x", INT)], v("x") - v("c")), call("ldrop_at", v("r"), v("m"))))
    return case(v("rows"), ListLit((), LINT), "r", "rows2",
                case(v("lo"), ListLit((), LINT), "l", "lo2",
                     op("cons", sub, call("minus_col", v("rows2"), v("lo2"), v("m")))))


def _m_body():
    """For maximum m: the difference tables of cubic.md step 1, restricted to t, q <= m, columns j != m."""
    m, K = v("m"), op_field("bk")
    rows_upto = lambda mat: call("ltake", op_field(mat), m + 1)  # noqa: E731
    pos_rows = ("pnq_rows", call("minus_col", call("ltake", op_field("pv_hi"), K - 1),
                                 call("ltake", op_field("pv_lo"), K - 1), m))
    binds = [
        ("ov", call("minus_col", rows_upto("ev_hi"), rows_upto("ev_lo"), m)),  # e(t, j) upper, t <= m
        pos_rows,
        ("pnq", foldl(lam([("acc", LINT), ("r", LINT)], call("vmaxw", v("acc"), v("r"))),
                      call("lnth", v("pnq_rows"), 0, NIL_INT), v("pnq_rows"))),  # max_{i<K-1} p(i, j)
        ("pq", call("lnth", call("minus_col", call("ldrop", op_field("pv_hi"), K - 1),
                                 call("ldrop", op_field("pv_lo"), K - 1), m), 0, NIL_INT)),  # p(K-1, j)
        ("dir", call("minus_col", rows_upto("eu_hi"), rows_upto("eu_lo"), m)),  # u(j) for each q <= m
        ("ovnq", lmap(lam([("r", LINT)], call("vadd", v("r"), v("pnq"))), v("ov"))),
        ("ovq", lmap(lam([("r", LINT)], call("vadd", v("r"), v("pq"))), v("ov"))),
    ]
    body = foldl(lam([("acc", INT), ("q", INT)],
                     v("acc") + call("cubic_qm", v("b"), m, v("q"), call("lnth", v("dir"), v("q"), NIL_INT), v("ovnq"),
                                     call("lnth", v("ovq"), v("q"), NIL_INT))),
                 0, rng(m + 1))
    return lets(binds, body)


def _qm_body():
    m, q, K, p = v("m"), v("q"), op_field("bk"), op_field("bp")
    dq = v("dq")
    joint_w = lmap(lam([("r", LINT)], call("maxsum", dq, v("r"), call("zhd", dq) + call("zhd", v("r")))), v("ovnq"))
    sep_w = lmap(lam([("r", LINT)], call("vmax", dq) + call("vmax", v("r"))), v("ovnq"))
    joint_q = call("maxsum", dq, v("ovq"), call("zhd", dq) + call("zhd", v("ovq")))
    sep_q = call("vmax", dq) + call("vmax", v("ovq"))
    cs = lmap(lam([("i", INT)], v("i") + 1), rng(K - 1))  # c = 1 .. K-1
    # for one k (its P_k = pk): for each c, is F̄(q, m, k, c) < 0 ?  (as 0/1)
    k_flags = lets([("kterm", lmap(lam([("a", IPAIR)], call("mulup", v("a"), v("pk"), p)), v("anq"))),
                    ("delta", call("sort_desc", call("vsub", v("maxterm"), v("kterm")))),
                    ("sb", call("vsum", v("kterm")))],
                   lmap(lam([("c", INT)],
                            if_((v("sb") + call("vsum", call("ltake", v("delta"), K - 1 - v("c"))) + v("cterm")).lt(0),
                                1, 0)), v("cs")))
    binds = [
        ("wnq", if_(op_field("bjoint"), joint_w, sep_w)),  # W(t) for t <= m
        ("wq", if_(op_field("bjoint"), joint_q, sep_q)),  # W_q
        ("erow", call("to_fixed", call("ltake", call("lnth", op_field("etok"), q, ListLit((), FLOAT)), m + 1))),
        ("arow", call("to_fixed", call("lnth", op_field("epos"), q, ListLit((), FLOAT)))),
        ("prow", call("mulup_list", v("erow"), v("wnq"), p)),  # P_t >= E_t W(t)
        ("cterm", call("mulup", call("lnth", v("arow"), K - 1, ZERO_PAIR),
                       call("mulup", call("lnth", v("erow"), q, ZERO_PAIR), v("wq"), p), p)),  # C̄
        ("anq", call("ltake", v("arow"), K - 1)),
        ("maxterm", lmap(lam([("a", IPAIR)], call("mulup", v("a"), call("lnth", v("prow"), m, 0), p)), v("anq"))),  # Ā_i
        ("c0", if_((call("vsum", v("maxterm")) + v("cterm")).lt(0), 1, 0)),
        ("cs", cs),
        ("goods", foldl(lam([("acc", LINT), ("pk", INT)], call("vadd", v("acc"), k_flags)),
                        lmap(lam([("c", INT)], Int(0)), cs), call("ltake", v("prow"), m))),
    ]
    contrib = lmap(lam([("c", INT)],
                       if_(op("or", (K - 1 - v("c")).gt(0), q.eq(m)),
                           call("binom", K - 1, v("c")) * call("zpow", call("lnth", v("goods"), v("c") - 1, 0), v("c")),
                           0)), v("cs"))
    return lets(binds, v("c0") + call("vsum", contrib))


def _bounds_body():
    st, vt = v("st"), v("vt")
    s = fld("hint_value_shift")
    binds = [
        ("cb", call("inv_sqrt_bounds", fld("hint_sqrt_bits"), fld("hint_sqrt_root"), fld("hint_inv_bits"))),
        ("st", call("score_tables", v("d"))),
        ("vt", call("value_tables", v("d"))),
        ("g", fld("hint_inv_bits")), ("p", fld("hint_prec")), ("n", fld("hint_terms")),
    ]
    values = [
        ("bv", fld("d_vocab")), ("bk", fld("n_ctx")), ("bp", v("p")), ("bjoint", fld("joint")),
        ("ev_lo", call("round_lo", fst(snd(vt)), s)), ("ev_hi", call("round_hi", fst(snd(vt)), s)),
        ("pv_lo", call("round_lo", fst(snd(snd(vt))), s)), ("pv_hi", call("round_hi", fst(snd(snd(vt))), s)),
        ("eu_lo", call("round_lo", snd(snd(snd(vt))), s)), ("eu_hi", call("round_hi", snd(snd(snd(vt))), s)),
        ("etok", call("exp_table", fst(snd(st)), v("cb"), fst(st), v("g"), v("p"), v("n"))),
        ("epos", call("exp_table", snd(snd(st)), v("cb"), fst(st), v("g"), v("p"), v("n"))),
    ]
    return lets(binds, RecordLit("Bounds", tuple(values)))


def value_shift(cert, bits: int) -> int:
    """Round the value tables so that their largest entry keeps about `bits` bits."""
    from checker.maxofk import build_tables

    t = build_tables(cert.config, cert.params)
    top = max(abs(int(x)) for tab in (t.evou, t.pvou, t.eupu) for x in tab.mat.entries())
    return max(0, top.bit_length() - bits)


def build(cert, prec: int):
    witness = dict(cert.witness)
    # The exported check may use either valid bound of W (cubic.md, step 1): the witness is only a hint.
    # "per-output" (every j per case, d_vocab^4 n_ctx) is too slow for Coq, and "top-outputs" has no exported
    # form yet; "joint" stands in for both, and the exporter checks first that it still reaches the claim.
    joint = witness.get("direct_path") != "separate"
    hints = {"hint_prec": Int(prec), "hint_terms": Int(exp_terms(prec)),
             "hint_value_shift": Int(value_shift(cert, max(16, prec - 8))), "joint": Bool(joint)}
    hints.update({k: Int(x) for k, x in sqrt_hints(cert.config.d_head, prec).items()})
    mode = "joint" if joint else "separate"
    header = base_header(cert, f"cubic v{cert.schema_version} certificate (direct_path "
                               f"{witness.get('direct_path')}; this check uses {mode})", [
        "Proves (theorem cert_check): check data = true, i.e. the number of inputs that the cubic case",
        "analysis (docs/proofs/cubic.md), computed below in integer fixed point with outward rounding, proves",
        "correct is at least claim_num / claim_den * d_vocab^n_ctx.",
    ])
    bounds = Record("Bounds", tuple(BOUNDS_FIELDS),
                    "What every case reads: sizes, the value tables rounded outward (lo/hi), softmax factor bounds.")
    prog = program(cert, "cubic", header, HINT_FIELDS, hints, [bounds] + schema_defs())
    return prog


PRECISIONS = (32, 40, 48, 64, 96, 128, 256)
