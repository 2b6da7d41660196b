"""The brute-force schema as an exported program: every input, rigorous softmax weights, count >= claim."""

from __future__ import annotations

from generator.export.common import base_header, exp_terms, program, sqrt_hints
from generator.export.ir import (
    BOOL, INT, IPAIR, LINT, MAT, Int, ListLit, TList, TPair, TRec, call, case, if_, lam, lets, op, v,
)
from generator.export.library import NIL_INT, fld, fn, fst, land, lmap, rng, snd

SCORES = TPair(INT, TPair(MAT, MAT))
VALUES = TPair(INT, TPair(MAT, TPair(MAT, MAT)))

HINT_FIELDS = [("hint_prec", INT), ("hint_terms", INT), ("hint_inv_bits", INT), ("hint_sqrt_bits", INT),
               ("hint_sqrt_root", INT)]


def schema_defs() -> list:
    d = []
    t, rows, ws = v("t"), v("rows"), v("ws")
    d.append(fn("all_seqs", [("nv", INT), ("k", INT)], TList(LINT),
                op("foldl", lam([("acc", TList(LINT)), ("i", INT)],
                                call("lconcat", lmap(lam([("s", LINT)], lmap(lam([("x", INT)], op("cons", v("x"), v("s"))),
                                                                             rng(v("nv")))), v("acc")))),
                   ListLit((NIL_INT,), LINT), rng(v("k"))),
                "All nv^k token sequences of length k."))
    d.append(fn("bf_margin", [("rows", MAT), ("ws", TList(IPAIR)), ("m", INT), ("j", INT), ("u", INT), ("acc", INT)], INT,
                _margin_body(), "acc + a lower bound of 2^p sum_i w_i (row_i[m] - row_i[j] + u), w_i in [lo_i, hi_i].",
                True, "rows"))
    st, vt = v("st"), v("vt")
    binds = [
        ("es", fst(st)), ("eqke", fst(snd(st))), ("eqkp", snd(snd(st))),
        ("evou", fst(snd(vt))), ("pvou", fst(snd(snd(vt)))), ("eupu", snd(snd(snd(vt)))),
        ("q", call("lnth", t, v("k") - 1, 0)), ("m", call("vmax", t)),
        ("srow", call("lnth", v("eqke"), v("q"), NIL_INT)), ("prow", call("lnth", v("eqkp"), v("q"), NIL_INT)),
        ("scores", lmap(lam([("i", INT)], call("lnth", v("srow"), call("lnth", t, v("i"), 0), 0)
                            + call("lnth", v("prow"), v("i"), 0)), rng(v("k")))),
        ("smax", call("vmax", v("scores"))),
        ("ws", lmap(lam([("s", INT)], call("weight_bounds", v("smax") - v("s"), v("cb"), v("es"), v("g"), v("p"),
                                             v("n"))), v("scores"))),
        ("urow", call("lnth", v("eupu"), v("q"), NIL_INT)),
        ("rows", lmap(lam([("i", INT)], call("vadd", call("lnth", v("evou"), call("lnth", t, v("i"), 0), NIL_INT),
                                             call("lnth", v("pvou"), v("i"), NIL_INT))), rng(v("k")))),
        ("um", call("lnth", v("urow"), v("m"), 0)),
    ]
    body = call("ball", lmap(lam([("j", INT)], if_(v("j").eq(v("m")), True,
                                                   Int(0).lt(call("bf_margin", rows, ws, v("m"), v("j"),
                                                                  v("um") - call("lnth", v("urow"), v("j"), 0), 0)))),
                             rng(v("nv"))))
    d.append(fn("bf_correct", [("st", SCORES), ("vt", VALUES), ("cb", IPAIR), ("g", INT), ("p", INT), ("n", INT),
                               ("nv", INT), ("k", INT), ("t", LINT)], BOOL, lets(binds, body),
                "Input t is proven correct: for every j != m = max t, a lower bound of 2^p times the (unnormalised) "
                "logit difference logit[m] - logit[j] = sum_i w_i (EVOU[t_i][m] - EVOU[t_i][j] + PVOU[i][m] - PVOU[i][j] "
                "+ EUPU[q][m] - EUPU[q][j]) is > 0, where w_i = exp(score_i - max score) lies in the bounds of "
                "weight_bounds. (A tie or an undecided sign counts as wrong.)"))
    V, K = fld("d_vocab"), fld("n_ctx")
    count = op("foldl", lam([("c", INT), ("t", LINT)],
                            if_(call("bf_correct", v("st"), v("vt"), v("cb"), fld("hint_inv_bits"), fld("hint_prec"),
                                     fld("hint_terms"), V, K, t), v("c") + 1, v("c"))),
               Int(0), call("all_seqs", V, K))
    d.append(fn("bf_count", [("d", TRec("Data"))], INT,
                lets([("cb", call("inv_sqrt_bounds", fld("hint_sqrt_bits"), fld("hint_sqrt_root"), fld("hint_inv_bits"))),
                      ("st", call("score_tables", v("d"))), ("vt", call("value_tables", v("d")))], count),
                "The number of inputs proven correct."))
    num, den = fld("claim_num"), fld("claim_den")
    d.append(fn("check", [("d", TRec("Data"))], BOOL,
                land(call("shapes_ok", v("d")),
                     land(land(fld("hint_prec").ge(1), fld("hint_terms").ge(0)),
                          land(land(fld("hint_inv_bits").ge(0), call("sqrt_ok", fld("d_head"), fld("hint_sqrt_bits"), fld("hint_sqrt_root"))),
                               land(land(Int(0).le(num), Int(0).lt(den)),
                                    (num * call("zpow", V, K)).le(call("bf_count", v("d")) * den))))),
                "The claim num/den is at most (inputs proven correct) / d_vocab^n_ctx."))
    return d


def _margin_body():
    rows, ws, w = v("rows"), v("ws"), v("w")
    vv = (call("lnth", v("row"), v("m"), 0) - call("lnth", v("row"), v("j"), 0)) + v("u")
    step = if_(Int(0).le(v("vv")), fst(w) * v("vv"), snd(w) * v("vv"))
    return case(rows, v("acc"), "row", "rest",
                case(ws, v("acc"), "w", "wrest",
                     lets([("vv", vv)], call("bf_margin", v("rest"), v("wrest"), v("m"), v("j"), v("u"),
                                             v("acc") + step))))


def build(cert, prec: int):
    hints = {"hint_prec": Int(prec), "hint_terms": Int(exp_terms(prec))}
    hints.update({k: Int(x) for k, x in sqrt_hints(cert.config.d_head, prec).items()})
    header = base_header(cert, f"brute-force v{cert.schema_version} certificate", [
        "Proves (theorem cert_check): check data = true, i.e. the number of inputs t in {0..d_vocab-1}^n_ctx",
        "that the integer computation below proves correct (logit[max t] > logit[j] for every j != max t)",
        "is at least claim_num / claim_den * d_vocab^n_ctx.",
    ])
    return program(cert, "brute-force", header, HINT_FIELDS, hints, schema_defs())


PRECISIONS = (64, 128, 256, 512, 1024, 2048, 4096)
