"""The Coq export of a cubic certificate that proves the accuracy bound over the reals (coq/Cubic.v).

`certify export-coq` writes, for a cubic certificate, the certificate's numbers (a `Data` record of
coq/Spec.v), the hints `kappa` of the Coq check, and

    Theorem accuracy_bound : (claim data <= accuracy (model_of data))%R.

proved by `cubic_sound` and a `vm_compute` of `cubic_check data p r hints`. `cubic_classes` below is the
same computation as the Coq `cubic_info`, in exact Python integers and rationals: it finds the hints (for each
class (q, m, c), the token whose figure `Pk` is the threshold of the certified token set) and the count the Coq
check proves, so that the exporter writes a file whose check succeeds. Nothing here is trusted: Coq's kernel
re-runs the check. The claim written is the certificate's when the Coq check reaches it, else the count the Coq
check proves (said in the file's header). See docs/formal-export.md.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

from generator.export.coq_theorem import SPEC_FIELDS, data_record
from generator.export.common import weight_literals

# (p, r): the grid 2^-p of the exp bounds' start and of the margins, r floating squarings
PRECISIONS = ((32, 20), (48, 24))


# Cubic.fmin_exp: bounds below 2^-FMIN_EXP become 0 (lower) or 2^-FMIN_EXP (upper)
FMIN_EXP = 4096


def _log2(n: int) -> int:
    return n.bit_length() - 1 if n > 0 else 0  # Coq's Z.log2 (0 for n <= 0)


def _fshift(p: int, n: int) -> int:
    return max(0, _log2(n) - p)


def _tiny(m: int, e: int) -> bool:
    return e + _log2(m) + 1 < -FMIN_EXP


def exp_lof(p: int, r: int, y: Fraction) -> Fraction:
    """Cubic.exp_lof: a lower bound of exp(-y), y >= 0 (floating squarings kept to p bits, rounded down; 0 below
    2^-FMIN_EXP)."""
    u = y / 2 ** r
    if u > 1:
        return Fraction(0)
    m, e = math.floor((1 - u) * 2 ** p), -p
    for _ in range(r):
        n = m * m
        s = _fshift(p, n)
        m, e = n >> s, 2 * e + s
    return Fraction(0) if _tiny(m, e) else m * Fraction(2) ** e


def exp_hif(p: int, r: int, y: Fraction) -> Fraction:
    """Cubic.exp_hif: an upper bound of exp(-y), y >= 0 (floating squarings kept to p bits, rounded up; at least
    2^-FMIN_EXP)."""
    u = y / 2 ** r
    m, e = math.ceil(2 ** p / (1 + u)), -p
    for _ in range(r):
        n = m * m
        s = _fshift(p, n)
        m, e = -((-n) >> s), 2 * e + s
    return Fraction(1, 2 ** FMIN_EXP) if _tiny(m, e) else m * Fraction(2) ** e


def _wlow(w: tuple[Fraction, Fraction], e: Fraction) -> Fraction:
    return w[0] * e if e >= 0 else w[1] * e


def _floor_grid(p: int, a: Fraction) -> Fraction:
    return Fraction(math.floor(a * 2 ** p), 2 ** p)


def _mat(e: int, rows: list[list[int]]) -> list[list[Fraction]]:
    s = Fraction(2) ** e
    return [[v * s for v in row] for row in rows]


def _mul(a: list[list[Fraction]], b: list[list[Fraction]]) -> list[list[Fraction]]:
    bt = list(zip(*b))
    return [[sum((x * y for x, y in zip(row, col)), Fraction(0)) for col in bt] for row in a]


def _add_row(a: list[list[Fraction]], bias: list[Fraction]) -> list[list[Fraction]]:
    return [[x + y for x, y in zip(row, bias)] for row in a]


def cubic_classes(cfg, literals: dict, p: int, r: int, progress=None) -> tuple[int, list[list[list[int]]]]:
    """(the count Cubic.zcount proves, the hints kappa[q][m][c]) for the weight literals {field: (e, M)}.
    progress(what, done, total, work), if given, is called once per max token m (export.estimate.Progress)."""
    from generator.export.estimate import FRACTION_OP_WORK, cubic_ops

    tables_ops, placement_ops = cubic_ops(cfg)
    w = {SPEC_FIELDS[f]: _mat(e, rows) for f, (e, rows) in literals.items()}
    V, dm, dh, K = cfg.d_vocab, cfg.d_model, cfg.d_head, cfg.n_ctx
    n = K - 1

    def pad(mat, rows, cols):  # missing entries read as 0, as Spec.entry
        return [[(mat[i][j] if i < len(mat) and j < len(mat[i]) else Fraction(0)) for j in range(cols)]
                for i in range(rows)]

    WE, WP = pad(w["W_E"], V, dm), pad(w["W_pos"], K, dm)
    WQ, WK, WV = (pad(w[f], dm, dh) for f in ("W_Q", "W_K", "W_V"))
    WO, WU = pad(w["W_O"], dh, dm), pad(w["W_U"], dm, V)
    bQ, bK, bV = (pad(w[f], 1, dh)[0] for f in ("b_Q", "b_K", "b_V"))
    bO, bU = pad(w["b_O"], 1, dm)[0], pad(w["b_U"], 1, V)[0]

    xq = [[WE[q][a] + WP[n][a] for a in range(dm)] for q in range(V)]
    qv = _add_row(_mul(xq, WQ), bQ)
    ek = _mul(WE, WK)
    pk = _add_row(_mul(WP, WK), bK)
    se = _mul(qv, [list(c) for c in zip(*ek)])
    sp = _mul(qv, [list(c) for c in zip(*pk)])
    root = math.isqrt(dh * 4 ** p)
    s_lo, s_hi = Fraction(root, 2 ** p), Fraction(root + 1, 2 ** p)

    def wbounds(mx, s):
        dl = (mx - s) * 2 ** p
        return (exp_lof(p, r, Fraction(math.ceil(dl), 2 ** p) / s_lo),
                exp_hif(p, r, Fraction(math.floor(dl), 2 ** p) / s_hi))

    we = [[wbounds(max(row), x) for x in row] for row in se]
    wp = [[wbounds(max(row), x) for x in row] for row in sp]
    cu = _add_row(_mul(_add_row(xq, bO), WU), bU)
    eou = _mul(_mul(_mul(WE, WV), WO), WU)
    pou = _mul(_mul(_add_row(_mul(WP, WV), bV), WO), WU)
    pn = [[min((pou[i][m] - pou[i][j] for i in range(n)), default=Fraction(0)) for j in range(V)]
          for m in range(V)]
    sels = {c: [s for s in itertools.product((True, False), repeat=n) if sum(s) == n - c] for c in range(K)}

    count = 0
    hints = [[[0] * K for _ in range(V)] for _ in range(V)]
    if progress is not None:
        progress(f"tables (p = {p})", 0, V, FRACTION_OP_WORK * tables_ops)
    for m in range(V):
        if progress is not None:  # the classes with this max token: about (m + 1) / (V (V + 1) / 2) of the rest
            progress(f"max tokens (p = {p})", m, V,
                     FRACTION_OP_WORK * placement_ops * (m + 1) // max(1, V * (V + 1) // 2))
        others = [j for j in range(V) if j != m]
        dep = [min((eou[k][m] - eou[k][j] + pn[m][j] for j in others), default=Fraction(0)) for k in range(V)]
        for q in range(m + 1):
            cm = min((cu[q][m] - cu[q][j] for j in others), default=Fraction(0))
            pks = [_wlow(we[q][k], _floor_grid(p, cm + dep[k])) for k in range(V)]
            dq = min((eou[q][m] - eou[q][j] + pou[n][m] - pou[n][j] for j in others), default=Fraction(0))
            qt = _wlow(wp[q][n], _wlow(we[q][q], _floor_grid(p, cm + dq)))
            a = [_wlow(wp[q][i], pks[m]) for i in range(n)]

            def place_ok(tau, c):
                b = [_wlow(wp[q][i], tau) for i in range(n)]
                return all(sum((a[i] if s[i] else b[i]) for i in range(n)) + qt > 0 for s in sels[c])

            # candidate thresholds, largest first: place_ok is monotone in tau, so search the smallest passing
            order = sorted(range(m), key=lambda k: pks[k], reverse=True)
            for c in range(K):
                if not (q == m or c < n):
                    continue
                if c == 0:
                    if place_ok(Fraction(0), 0):
                        count += 1
                    continue
                lo_i, hi_i = 0, len(order)  # the first lo_i candidates pass (monotone): binary search
                while lo_i < hi_i:
                    mid = (lo_i + hi_i) // 2
                    if place_ok(pks[order[mid]], c):
                        lo_i = mid + 1
                    else:
                        hi_i = mid
                if lo_i == 0:
                    continue
                kappa = order[lo_i - 1]
                tau = pks[kappa]
                g = sum(1 for k in range(m) if tau <= pks[k])
                hints[q][m][c] = kappa
                count += math.comb(n, c) * g ** c
    if progress is not None:
        progress(f"max tokens (p = {p})", V, V)
    return count, hints


def _hints_literal(hints: list[list[list[int]]]) -> str:
    return "[" + ";\n ".join("[" + "; ".join("[" + "; ".join(map(str, c)) + "]" for c in row) + "]"
                           for row in hints) + "]%nat"


def render_cubic_file(cert, p: int, r: int, hints, claim: Fraction, count: int) -> str:
    """The exported file: the Data record, the hints, and the theorem accuracy_bound (proved by cubic_sound)."""
    cfg = cert.config
    total = cfg.d_vocab ** cfg.n_ctx
    same = claim == cert.claim
    lines = [
        "(* compact-proofs: a machine-checked accuracy bound for a cubic certificate (coq/Cubic.v).",
        f"   model: d_vocab {cfg.d_vocab}, d_model {cfg.d_model}, d_head {cfg.d_head}, n_ctx (K) {cfg.n_ctx}, "
        f"weights sha256 {cert.sha256}",
        f"   certificate's claim: accuracy >= {cert.claim.numerator}/{cert.claim.denominator} "
        f"(~{float(cert.claim):.6f})",
        f"   claim proved here: accuracy >= {claim.numerator}/{claim.denominator} (~{float(claim):.6f})"
        + (" (the certificate's)" if same else
           f", BELOW the certificate's claim: the Coq check (coarser than checker/schemas/cubic.py) proves "
           f"{count} of the {total} inputs correct; the certificate's own claim is proved by certcheck, not by "
           f"this file"),
        "   The theorem is about the real-valued model of coq/Spec.v (DESIGN.md) with these weights.",
        "   Compile: make -C coq && coqc -R coq CompactProofs FILE.v (docs/formal-export.md).",
        "   Generated by `certify export-coq`; the data are the certificate's float32 weights, exactly;",
        "   the hints only choose each class's token set (any hints give a sound check). *)",
        "From Coq Require Import ZArith List Reals.",
        "From CompactProofs Require Import Spec Cubic.",
        "Import ListNotations.",
        "",
        *data_record(cert, claim),
        "",
        "Definition hints : Hints :=",
        f" {_hints_literal(hints)}.",
        "",
        "Theorem accuracy_bound : (claim data <= accuracy (model_of data))%R.",
        f"Proof. apply (cubic_sound data {p} {r} hints). vm_cast_no_check (@eq_refl bool true). Qed.",
        "",
    ]
    return "\n".join(lines)


def export_cubic_theorem(cert, precision: tuple[int, int] | None = None, progress=None) -> tuple[str, dict]:
    """The theorem file for a cubic certificate: the certificate's claim if the Coq check reaches it at some
    precision tried, else the largest count it proves (at the last precision tried)."""
    from generator.export import ExportError

    if cert.schema != "cubic" or cert.schema_version != 1:
        raise ExportError(f"no cubic accuracy_bound export for schema {cert.schema} v{cert.schema_version}")
    cfg = cert.config
    if min(cfg.d_vocab, cfg.n_ctx, cfg.d_head) < 1:
        raise ExportError("the Coq cubic check needs d_vocab, n_ctx, d_head >= 1")
    total = cfg.d_vocab ** cfg.n_ctx
    literals = weight_literals(cert)
    tried = []
    best = None
    for p, r in (precision,) if precision else PRECISIONS:
        count, hints = cubic_classes(cfg, literals, p, r, progress)
        tried.append({"prec": p, "squarings": r, "count": count})
        if best is None or count > best[2]:
            best = (p, r, count, hints)
        if cert.claim * total <= count:
            break
    p, r, count, hints = best
    if count == 0:
        raise ExportError(f"the Coq cubic check proves no input correct: {tried}")
    claim = cert.claim if cert.claim * total <= count else Fraction(count, total)
    text = render_cubic_file(cert, p, r, hints, claim, count)
    return text, {"prec": p, "squarings": r, "count": count, "claim": str(claim), "tried": tried}
