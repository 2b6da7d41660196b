"""IR definitions shared by every exported schema: list helpers, exact dyadic matrices, the model's path
tables computed from the weights, and rigorous fixed-point bounds of exp(-x) and of 1/sqrt(d_head).

Everything here is integer arithmetic. The few places that round say which way, and why the result is
still a bound (docs/formal-export.md has the argument in full).
"""

from __future__ import annotations

from generator.export.ir import (
    BOOL, DYADIC, INT, IPAIR, LINT, MAT, Case, Def, Field, FnRef, If, Int, ListLit, TList, TPair, TRec, TVar,
    call, case, if_, lam, let, lets, op, pair, v,
)

A = TVar("A")
NIL_INT = ListLit((), INT)
NIL_ROW = ListLit((), LINT)


def fld(name: str):
    """A field of the data record `d`."""
    return Field(v("d"), "Data", name)


def fn(name, params, ret, body, doc="", recursive=False, struct=None, tvars=()):
    return Def(name, tuple(params), ret, body, recursive, struct, tuple(tvars), doc)


def foldl(f, init, lst):
    return op("foldl", f, init, lst)


def lmap(f, lst):
    return op("map", f, lst)


def rng(n):
    return op("range", n)


def fst(x):
    return op("fst", x)


def snd(x):
    return op("snd", x)


def zmax(a, b):
    return op("max", a, b)


def zmin(a, b):
    return op("min", a, b)


def land(a, b):
    """Boolean and (strict in Coq, short-circuit in Lean and Python: the same value)."""
    return op("and", a, b)


def list_defs() -> list[Def]:
    l, h, t = v("l"), v("h"), v("t")
    a, b, x, y, a2, b2 = v("a"), v("b"), v("x"), v("y"), v("a2"), v("b2")
    d = []
    d.append(fn("lnth", [("l", TList(A)), ("i", INT), ("dflt", A)], A,
                case(l, v("dflt"), "h", "t", if_(v("i").le(0), h, call("lnth", t, v("i") - 1, v("dflt")))),
                "The i-th element of l (0-based), or dflt past the end.", True, "l", ["A"]))
    d.append(fn("ltake", [("l", TList(A)), ("n", INT)], TList(A),
                case(l, ListLit((), A), "h", "t",
                     if_(v("n").le(0), ListLit((), A), op("cons", h, call("ltake", t, v("n") - 1)))),
                "The first n elements of l.", True, "l", ["A"]))
    d.append(fn("ldrop", [("l", TList(A)), ("n", INT)], TList(A),
                case(l, ListLit((), A), "h", "t", if_(v("n").le(0), l, call("ldrop", t, v("n") - 1))),
                "l without its first n elements.", True, "l", ["A"]))
    d.append(fn("ldrop_at", [("l", TList(A)), ("i", INT)], TList(A),
                case(l, ListLit((), A), "h", "t",
                     if_(v("i").eq(0), t, op("cons", h, call("ldrop_at", t, v("i") - 1)))),
                "l without its i-th element.", True, "l", ["A"]))
    d.append(fn("lconcat", [("l", TList(TList(A)))], TList(A),
                case(l, ListLit((), A), "h", "t", op("append", h, call("lconcat", t))),
                "Concatenation of a list of lists.", True, "l", ["A"]))
    d.append(fn("zhd", [("l", LINT)], INT, case(l, 0, "h", "t", h), "First element (0 if empty)."))
    d.append(fn("ztl", [("l", LINT)], LINT, case(l, NIL_INT, "h", "t", t), "All but the first element."))
    d.append(fn("vsum", [("l", LINT)], INT, foldl(lam([("s", INT), ("x", INT)], v("s") + x), 0, l),
                "Sum of a list."))
    d.append(fn("vmax", [("l", LINT)], INT,
                foldl(lam([("s", INT), ("x", INT)], zmax(v("s"), x)), call("zhd", l), l),
                "Largest element of a nonempty list (0 if empty)."))
    d.append(fn("ball", [("l", TList(BOOL))], BOOL,
                foldl(lam([("s", BOOL), ("x", BOOL)], if_(v("s"), x, False)), True, l),
                "Every element is true."))
    d.append(fn("bcount", [("l", TList(BOOL))], INT,
                foldl(lam([("s", INT), ("x", BOOL)], if_(x, v("s") + 1, v("s"))), 0, l),
                "Number of true elements."))
    d.append(fn("zpow", [("b", INT), ("e", INT)], INT,
                foldl(lam([("s", INT), ("i", INT)], v("s") * b), 1, rng(v("e"))), "b^e for e >= 0."))
    d.append(fn("binom", [("n", INT), ("k", INT)], INT,
                op("fdiv", foldl(lam([("s", INT), ("i", INT)], v("s") * (v("n") - v("i"))), 1, rng(v("k"))),
                   foldl(lam([("s", INT), ("i", INT)], v("s") * (v("i") + 1)), 1, rng(v("k")))),
                "Binomial coefficient C(n, k) = n(n-1)...(n-k+1) / k! (an exact division) for 0 <= k."))

    def zip2(name, combine, doc):
        return fn(name, [("a", LINT), ("b", LINT)], LINT,
                  case(a, NIL_INT, "x", "a2", case(b, NIL_INT, "y", "b2", op("cons", combine(x, y), call(name, a2, b2)))),
                  doc, True, "a")

    d.append(zip2("vadd", lambda p, q: p + q, "Elementwise sum (as long as the shorter list)."))
    d.append(zip2("vsub", lambda p, q: p - q, "Elementwise difference."))
    d.append(zip2("vmaxw", lambda p, q: zmax(p, q), "Elementwise maximum."))
    d.append(fn("madd", [("a", MAT), ("b", MAT)], MAT,
                case(a, NIL_ROW, "x", "a2", case(b, NIL_ROW, "y", "b2", op("cons", call("vadd", x, y), call("madd", a2, b2)))),
                "Elementwise sum of matrices.", True, "a"))
    d.append(fn("maxsum", [("a", LINT), ("b", LINT), ("acc", INT)], INT,
                case(a, v("acc"), "x", "a2", case(b, v("acc"), "y", "b2", call("maxsum", a2, b2, zmax(v("acc"), x + y)))),
                "max(acc, max_j (a[j] + b[j])).", True, "a"))
    d.append(fn("dot_l", [("a", LINT), ("b", LINT), ("acc", INT)], INT,
                case(a, v("acc"), "x", "a2", case(b, v("acc"), "y", "b2", call("dot_l", a2, b2, v("acc") + x * y))),
                "acc + sum_j a[j] b[j] (the product is written x*y: Coq's multiplication recurses on x, "
                "so the entries with fewer bits go first).", True, "a"))
    d.append(fn("dot_r", [("a", LINT), ("b", LINT), ("acc", INT)], INT,
                case(a, v("acc"), "x", "a2", case(b, v("acc"), "y", "b2", call("dot_r", a2, b2, v("acc") + y * x))),
                "The same sum, products written y*x.", True, "a"))
    m = v("m")
    d.append(fn("transpose_aux", [("cols", LINT), ("m", MAT)], MAT,
                case(v("cols"), NIL_ROW, "c", "cs",
                     op("cons", lmap(FnRef("zhd"), m), call("transpose_aux", v("cs"), lmap(FnRef("ztl"), m)))),
                "Transpose of m, as many rows as cols has elements.", True, "cols"))
    d.append(fn("transpose", [("m", MAT)], MAT, call("transpose_aux", call("lnth", m, 0, NIL_INT), m), "Transpose."))
    r, c = v("r"), v("c")
    for side in ("l", "r"):
        d.append(fn(f"matmul_{side}", [("a", MAT), ("bt", MAT)], MAT,
                    lmap(lam([("r", LINT)], lmap(lam([("c", LINT)], call(f"dot_{side}", r, c, 0)), v("bt"))), a),
                    f"a @ transpose(bt) (dot_{side} for each entry)."))
    d.append(fn("mat_shape_ok", [("m", MAT), ("rows", INT), ("cols", INT)], BOOL,
                land(op("length", m).eq(v("rows")),
                     call("ball", lmap(lam([("r", LINT)], op("length", r).eq(v("cols"))), m))),
                "m has exactly `rows` rows of `cols` entries."))
    return d


def dyadic_defs() -> list[Def]:
    """Exact matrices (e, M) meaning M * 2^e, as in checker/exact.py's Dyadic."""
    x, y, e = v("x"), v("y"), v("e")
    d = []
    d.append(fn("dy_at", [("x", DYADIC), ("e", INT)], MAT,
                let("s", fst(x) - e,
                    if_(v("s").eq(0), snd(x),
                        lmap(lam([("r", LINT)], lmap(lam([("z", INT)], v("z") * op("pow2", v("s"))), v("r"))), snd(x)))),
                "The integers of x at exponent e <= fst x (same value, M * 2^(fst x - e))."))
    d.append(fn("dy_add", [("x", DYADIC), ("y", DYADIC)], DYADIC,
                let("e", zmin(fst(x), fst(y)), pair(e, call("madd", call("dy_at", x, e), call("dy_at", y, e)))),
                "Exact sum."))
    for side in ("l", "r"):
        d.append(fn(f"dy_mul_{side}", [("x", DYADIC), ("y", DYADIC)], DYADIC,
                    pair(fst(x) + fst(y), call(f"matmul_{side}", snd(x), call("transpose", snd(y)))),
                    "Exact product x @ y."))
        d.append(fn(f"dy_mult_{side}", [("x", DYADIC), ("y", DYADIC)], DYADIC,
                    pair(fst(x) + fst(y), call(f"matmul_{side}", snd(x), snd(y))),
                    "Exact product x @ transpose(y)."))
    d.append(fn("dy_row", [("x", DYADIC), ("i", INT)], DYADIC,
                pair(fst(x), ListLit((call("lnth", snd(x), v("i"), NIL_INT),), LINT)), "Row i, as a 1-row matrix."))
    d.append(fn("dy_bcast", [("x", DYADIC), ("n", INT)], DYADIC,
                let("r", call("lnth", snd(x), 0, NIL_INT), pair(fst(x), lmap(lam([("i", INT)], v("r")), rng(v("n"))))),
                "The first row of x repeated n times."))
    return d


def data_fields(extra: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """The data record: model config, weights (each an exact dyadic matrix), claim, then schema fields."""
    base = [("d_vocab", INT), ("d_model", INT), ("d_head", INT), ("n_ctx", INT)]
    base += [(name, DYADIC) for name in WEIGHT_FIELDS.values()]
    base += [("claim_num", INT), ("claim_den", INT)]
    return base + extra


# certificate tensor name -> data field (3-D attention weights [1, a, b] are stored as their only slice)
WEIGHT_FIELDS = {
    "embed.W_E": "w_E", "pos_embed.W_pos": "w_pos",
    "blocks.0.attn.W_Q": "w_Q", "blocks.0.attn.W_K": "w_K", "blocks.0.attn.W_V": "w_V", "blocks.0.attn.W_O": "w_O",
    "blocks.0.attn.b_Q": "b_Q", "blocks.0.attn.b_K": "b_K", "blocks.0.attn.b_V": "b_V", "blocks.0.attn.b_O": "b_O",
    "unembed.W_U": "w_U", "unembed.b_U": "b_U",
}


def model_defs() -> list[Def]:
    """Shapes of the weights, and the path tables of checker/maxofk.py computed exactly from them."""
    V, M, H, K = fld("d_vocab"), fld("d_model"), fld("d_head"), fld("n_ctx")
    shape = {"w_E": (V, M), "w_pos": (K, M), "w_Q": (M, H), "w_K": (M, H), "w_V": (M, H), "w_O": (H, M),
             "b_Q": (1, H), "b_K": (1, H), "b_V": (1, H), "b_O": (1, M), "w_U": (M, V), "b_U": (1, V)}
    cond = land(land(V.ge(2), K.ge(2)), land(M.ge(1), H.ge(1)))
    for name, (rows, cols) in shape.items():
        cond = land(cond, call("mat_shape_ok", snd(fld(name)), rows, cols))
    d = [fn("shapes_ok", [("d", TRec("Data"))], BOOL, cond,
            "d_vocab >= 2, n_ctx >= 2, and every weight has the shape of its TransformerLens tensor.")]
    w = {name: fld(name) for name in shape}
    xq = ("xq", call("dy_add", w["w_E"], call("dy_bcast", call("dy_row", w["w_pos"], K - 1), V)))
    query = ("query", call("dy_add", call("dy_mul_l", v("xq"), w["w_Q"]), call("dy_bcast", w["b_Q"], V)))
    qk = ("qk", call("dy_mult_r", v("query"), w["w_K"]))  # query @ W_K^T   (V x d_model)
    eqke = ("eqke", call("dy_mult_r", v("qk"), w["w_E"]))  # = query @ (W_E W_K)^T
    key_pos = ("key_pos", call("dy_add", call("dy_mul_l", w["w_pos"], w["w_K"]), call("dy_bcast", w["b_K"], K)))
    eqkp = ("eqkp", call("dy_mult_r", v("query"), v("key_pos")))
    es = ("es", zmin(fst(v("eqke")), fst(v("eqkp"))))
    d.append(fn("score_tables", [("d", TRec("Data"))], TPair(INT, TPair(MAT, MAT)),
                lets([xq, query, qk, eqke, key_pos, eqkp, es],
                     pair(v("es"), pair(call("dy_at", v("eqke"), v("es")), call("dy_at", v("eqkp"), v("es"))))),
                "(e_s, EQKE, EQKP): score[q, t, i] = (EQKE[q][t] + EQKP[q][i]) * 2^e_s / sqrt(d_head), with "
                "x_q = W_E[q] + W_pos[K-1], Q(q) = x_q W_Q + b_Q, EQKE[q][t] = Q(q).(W_E[t] W_K), "
                "EQKP[q][i] = Q(q).(W_pos[i] W_K + b_K)."))
    ou = ("ou", call("dy_mul_l", w["w_O"], w["w_U"]))
    evou = ("evou", call("dy_mul_l", w["w_E"], call("dy_mul_l", w["w_V"], v("ou"))))
    pvou = ("pvou", call("dy_mul_l", call("dy_add", call("dy_mul_l", w["w_pos"], w["w_V"]), call("dy_bcast", w["b_V"], K)),
                         v("ou")))
    eupu = ("eupu", call("dy_add", call("dy_mul_l", call("dy_add", v("xq"), call("dy_bcast", w["b_O"], V)), w["w_U"]),
                         call("dy_bcast", w["b_U"], V)))
    ev = ("ev", zmin(fst(v("evou")), zmin(fst(v("pvou")), fst(v("eupu")))))
    d.append(fn("value_tables", [("d", TRec("Data"))], TPair(INT, TPair(MAT, TPair(MAT, MAT))),
                lets([xq, ou, evou, pvou, eupu, ev],
                     pair(v("ev"), pair(call("dy_at", v("evou"), v("ev")),
                                        pair(call("dy_at", v("pvou"), v("ev")), call("dy_at", v("eupu"), v("ev")))))),
                "(e_v, EVOU, PVOU, EUPU), all at exponent e_v: logit[j] = EUPU[q][j] + sum_i a_i (EVOU[t_i][j] + "
                "PVOU[i][j]) with EVOU = W_E W_V W_O W_U, PVOU[i] = (W_pos[i] W_V + b_V) W_O W_U, "
                "EUPU[q] = (x_q + b_O) W_U + b_U."))
    return d


def exp_defs() -> list[Def]:
    """Fixed point with scale 2^p: a value X stands for X / 2^p."""
    y, p, n, z = v("y"), v("p"), v("n"), v("z")
    acc = v("acc")
    d = []
    d.append(fn("zcdiv", [("a", INT), ("b", INT)], INT, -op("fdiv", -v("a"), v("b")), "ceil(a / b) for b > 0."))
    d.append(fn("zcshr", [("a", INT), ("s", INT)], INT, -op("shr", -v("a"), v("s")), "ceil(a / 2^s) for s >= 0."))
    step_lo = lam([("acc", IPAIR), ("k", INT)],
                  let("tk", op("fdiv", op("shr", fst(acc) * z, p), v("k") + 1), pair(v("tk"), snd(acc) + v("tk"))))
    d.append(fn("series_lo", [("z", INT), ("p", INT), ("n", INT)], INT,
                snd(foldl(step_lo, pair(op("pow2", p), op("pow2", p)), rng(n))),
                "For 0 <= z: a lower bound of 2^p exp(z/2^p): the Taylor terms T_0 = 2^p, T_k = floor(floor(T_(k-1) z "
                "/ 2^p) / k) <= 2^p (z/2^p)^k / k!, summed for k = 0..n (the other terms are >= 0)."))
    step_hi = lam([("acc", IPAIR), ("k", INT)],
                  let("uk", call("zcdiv", call("zcshr", fst(acc) * z, p), v("k") + 1), pair(v("uk"), snd(acc) + v("uk"))))
    d.append(fn("series_hi", [("z", INT), ("p", INT), ("n", INT)], INT,
                lets([("r", foldl(step_hi, pair(op("pow2", p), op("pow2", p)), rng(n)))],
                     snd(v("r")) + 2 * call("zcdiv", call("zcshr", fst(v("r")) * z, p), n + 1)),
                "For 0 <= z <= 2^p: an upper bound of 2^p exp(z/2^p): terms U_k >= 2^p (z/2^p)^k / k! rounded up, "
                "summed for k = 0..n, plus 2 U_(n+1), which bounds the tail (z/2^p <= 1, so the tail is at most "
                "(z/2^p)^(n+1)/(n+1)! * 1/(1 - 1/(n+2)) <= 2 (z/2^p)^(n+1)/(n+1)!)."))
    red = ("r", zmax(0, op("log2", y) + 2 - p))  # y / 2^r < 2^(p-1): the reduced argument is <= 1/2
    d.append(fn("exp_lo", [("y", INT), ("p", INT), ("n", INT)], INT,
                if_(y.le(0), op("pow2", p),
                    lets([red, ("z", call("zcshr", y, v("r"))),
                          ("e0", op("fdiv", op("pow2", 2 * p), call("series_hi", z, p, n)))],
                         foldl(lam([("acc", INT), ("i", INT)], op("shr", acc * acc, p)), v("e0"), rng(v("r"))))),
                "For y >= 2^p x >= 0: a lower bound of 2^p exp(-x). With z = ceil(y / 2^r) >= 2^p x / 2^r and "
                "z <= 2^(p-1): exp(-x/2^r) >= 2^p / series_hi(z), then r squarings (exp(-x) = exp(-x/2^r)^(2^r)), "
                "each rounded down. (y <= 0: exp(-x) >= 1 = 2^p / 2^p when x <= 0.)"))
    d.append(fn("exp_hi", [("y", INT), ("p", INT), ("n", INT)], INT,
                if_(y.le(0), op("pow2", p),
                    lets([red, ("z", op("shr", y, v("r"))),
                          ("e0", zmin(op("pow2", p), call("zcdiv", op("pow2", 2 * p), call("series_lo", z, p, n))))],
                         foldl(lam([("acc", INT), ("i", INT)], zmin(op("pow2", p), call("zcshr", acc * acc, p))),
                               v("e0"), rng(v("r"))))),
                "For 0 <= y <= 2^p x: an upper bound of 2^p exp(-x), the same way rounded up (and at most 2^p: x >= 0)."))
    d.append(fn("sqrt_ok", [("dh", INT), ("q", INT), ("root", INT)], BOOL,
                lets([("n2", v("dh") * op("pow2", 2 * v("q")))],
                     land(land(v("root").ge(1), land(v("q").ge(0), (v("root") * v("root")).le(v("n2")))),
                          v("n2").lt((v("root") + 1) * (v("root") + 1)))),
                "The hint root is floor(sqrt(dh * 4^q)), i.e. root/2^q <= sqrt(dh) < (root+1)/2^q."))
    d.append(fn("inv_sqrt_bounds", [("q", INT), ("root", INT), ("g", INT)], IPAIR,
                pair(op("fdiv", op("pow2", v("g") + v("q")), v("root") + 1),
                     call("zcdiv", op("pow2", v("g") + v("q")), v("root"))),
                "(c_lo, c_hi) with c_lo <= 2^g / sqrt(dh) <= c_hi, from root/2^q <= sqrt(dh) <= (root+1)/2^q."))
    dd, cb, es, g = v("dd"), v("cb"), v("es"), v("g")
    d.append(fn("weight_bounds", [("dd", INT), ("cb", IPAIR), ("es", INT), ("g", INT), ("p", INT), ("n", INT)], IPAIR,
                lets([("sh", g - es - p),
                      ("ylo", op("shr", fst(cb) * dd, v("sh"))),
                      ("yhi", call("zcshr", snd(cb) * dd, v("sh")))],
                     pair(call("exp_lo", v("yhi"), p, n), call("exp_hi", v("ylo"), p, n))),
                "For dd >= 0: (lo, hi) with lo <= 2^p exp(-dd 2^es / sqrt(dh)) <= hi. The argument times 2^p is "
                "dd 2^(es+p-g) (2^g/sqrt(dh)), between floor(dd c_lo 2^(es+p-g)) and ceil(dd c_hi 2^(es+p-g))."))
    return d


FLOAT = TPair(IPAIR, INT)  # ((lo, hi), s): an interval [lo, hi] / 2^(p + s), s >= 0


def float_defs() -> list[Def]:
    """Bounds of exp(-x) with relative (floating-point-like) precision, for factors of very different sizes."""
    y, p, n, acc = v("y"), v("p"), v("n"), v("acc")
    d = []
    d.append(fn("fl_norm", [("mv", INT), ("s", INT), ("p", INT)], IPAIR,
                if_(v("mv").le(0), pair(v("mv"), v("s")),
                    lets([("t", zmax(0, v("p") - 1 - op("log2", v("mv"))))],
                         pair(v("mv") * op("pow2", v("t")), v("s") + v("t")))),
                "(mv, s) as (mv 2^t, s + t), the same value mv / 2^(p+s), with mv 2^t >= 2^(p-1) (exact)."))
    red = ("r", zmax(0, op("log2", y) + 2 - p))
    d.append(fn("fexp_lo", [("y", INT), ("p", INT), ("n", INT)], IPAIR,
                if_(y.le(0), pair(op("pow2", p), 0),
                    lets([red, ("z", call("zcshr", y, v("r"))),
                          ("e0", op("fdiv", op("pow2", 2 * p), call("series_hi", v("z"), p, n)))],
                         foldl(lam([("acc", IPAIR), ("i", INT)],
                                   call("fl_norm", op("shr", fst(acc) * fst(acc), p), 2 * snd(acc), p)),
                               pair(v("e0"), 0), rng(v("r"))))),
                "As exp_lo, but the result (M, s) means M / 2^(p+s) and keeps p significant bits: after each "
                "squaring (rounded down) the mantissa is renormalised exactly (fl_norm)."))
    d.append(fn("fexp_hi", [("y", INT), ("p", INT), ("n", INT)], IPAIR,
                if_(y.le(0), pair(op("pow2", p), 0),
                    lets([red, ("z", op("shr", y, v("r"))),
                          ("e0", zmin(op("pow2", p), call("zcdiv", op("pow2", 2 * p), call("series_lo", v("z"), p, n))))],
                         foldl(lam([("acc", IPAIR), ("i", INT)],
                                   call("fl_norm", call("zcshr", fst(acc) * fst(acc), p), 2 * snd(acc), p)),
                               pair(v("e0"), 0), rng(v("r"))))),
                "As exp_hi, in the same floating form (squarings rounded up)."))
    dd, cb, es, g = v("dd"), v("cb"), v("es"), v("g")
    d.append(fn("fweight_bounds", [("dd", INT), ("cb", IPAIR), ("es", INT), ("g", INT), ("p", INT), ("n", INT)], FLOAT,
                lets([("sh", g - es - p),
                      ("lo", call("fexp_lo", call("zcshr", snd(cb) * dd, v("sh")), p, n)),
                      ("hi", call("fexp_hi", op("shr", fst(cb) * dd, v("sh")), p, n)),
                      ("s", zmin(snd(v("lo")), snd(v("hi"))))],
                     pair(pair(op("shr", fst(v("lo")), snd(v("lo")) - v("s")),
                               call("zcshr", fst(v("hi")), snd(v("hi")) - v("s"))), v("s"))),
                "As weight_bounds, in floating form ((lo, hi), s): lo <= 2^(p+s) exp(-dd 2^es / sqrt(dh)) <= hi "
                "(the two ends brought to the same s by shifting right, lo rounded down and hi up)."))
    d.append(fn("to_fixed", [("row", TList(FLOAT))], TList(IPAIR),
                lets([("smin", foldl(lam([("acc", INT), ("e", FLOAT)], zmin(acc, snd(v("e")))),
                                     snd(call("lnth", v("row"), 0, pair(pair(0, 0), 0))), v("row")))],
                     lmap(lam([("e", FLOAT)], pair(op("shr", fst(fst(v("e"))), snd(v("e")) - v("smin")),
                                                   call("zcshr", snd(fst(v("e"))), snd(v("e")) - v("smin")))),
                          v("row"))),
                "A row of floating bounds as fixed point at the scale of its largest entry, 2^(p + smin) "
                "(smaller entries rounded outward): one positive factor 2^-smin for the whole row."))
    return d


def library() -> list[Def]:
    return list_defs() + dyadic_defs() + exp_defs() + float_defs()
