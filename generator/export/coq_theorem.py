"""The Coq export that proves the accuracy bound over the reals: a certificate's data and one theorem.

`certify export-coq` writes, for a brute-force certificate, a file that holds only the certificate's numbers
(a `Data` record of coq/Spec.v) and

    Theorem accuracy_bound : (claim data <= accuracy (model_of data))%R.

proved by `brute_force_sound` (coq/BruteForce.v) and a `vm_compute` of `bf_check data p r`. It compiles with
`coqc -R coq CompactProofs FILE.v` after `make -C coq`. `bf_count` below is the same computation as the Coq
`bf_count`, in exact Python rationals, so that the exporter can pick the precision (p, r) and refuse to write
a file whose check would fail. See docs/formal-export.md.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

from generator.export.common import weight_literals

PROGRESS_STEP = 64  # inputs between progress reports (and budget charges) of bf_count
# (p, r): exp bounds on the grid 2^-p after r squarings; tried in turn
PRECISIONS = ((32, 12), (48, 20), (64, 32), (128, 64), (256, 120))

# data field of generator/export/common.py -> field of the Coq record Spec.Data
SPEC_FIELDS = {"w_E": "W_E", "w_pos": "W_pos", "w_Q": "W_Q", "w_K": "W_K", "w_V": "W_V", "w_O": "W_O",
               "w_U": "W_U", "b_Q": "b_Q", "b_K": "b_K", "b_V": "b_V", "b_O": "b_O", "b_U": "b_U"}


def _round_down(a: Fraction, s: int) -> Fraction:
    return Fraction(math.floor(a * s), s)


def _round_up(a: Fraction, s: int) -> Fraction:
    return Fraction(math.ceil(a * s), s)


def exp_lo(s: int, r: int, y: Fraction) -> Fraction:
    """ExpBounds.exp_lo: a lower bound of exp(-y) for y >= 0."""
    u = y / 2 ** r
    if u > 1:
        return Fraction(0)
    low = _round_down(1 - u, s)
    for _ in range(r):
        low = _round_down(low * low, s)
    return low


def exp_hi(s: int, r: int, y: Fraction) -> Fraction:
    """ExpBounds.exp_hi: an upper bound of exp(-y) for y >= 0."""
    up = _round_up(1 / (1 + y / 2 ** r), s)
    for _ in range(r):
        up = _round_up(up * up, s)
    return up


def _values(e: int, rows: list[list[int]]) -> list[list[Fraction]]:
    scale = Fraction(2) ** e
    return [[m * scale for m in row] for row in rows]


def bf_count(cert, p: int, r: int, progress=None) -> int:
    """BruteForce.bf_count: the number of inputs that the Coq check certifies correct."""
    return bf_count_of(cert.config, weight_literals(cert), p, r, progress)


def bf_count_of(cfg, literals: dict[str, tuple[int, list[list[int]]]], p: int, r: int, progress=None) -> int:
    """bf_count for a configuration and the exported weight literals {field: (e, M)} (common.weight_literals).
    progress(what, done, total, work), if given, is called every PROGRESS_STEP inputs (export.estimate.Progress:
    it shows the count and charges the work to the budget meter)."""
    from generator.export.estimate import FRACTION_OP_WORK, bf_ops_per_input

    step_work = FRACTION_OP_WORK * bf_ops_per_input(cfg) * PROGRESS_STEP
    total = cfg.d_vocab ** cfg.n_ctx
    w = {SPEC_FIELDS[f]: _values(e, rows) for f, (e, rows) in literals.items()}
    dv, dm, dh, k = cfg.d_vocab, cfg.d_model, cfg.d_head, cfg.n_ctx
    s = 2 ** p
    root = math.isqrt(dh * 4 ** p)
    sqrt_lo, sqrt_hi = Fraction(root, 2 ** p), Fraction(root + 1, 2 ** p)
    WE, WP, WQ, WK, WV, WO, WU = (w[n] for n in ("W_E", "W_pos", "W_Q", "W_K", "W_V", "W_O", "W_U"))
    bQ, bK, bV, bO, bU = (w[n][0] for n in ("b_Q", "b_K", "b_V", "b_O", "b_U"))

    def affine(xv, mat, bias, cols):
        return [sum(xv[a] * mat[a][c] for a in range(dm)) + bias[c] for c in range(cols)]

    count = 0
    for n_done, t in enumerate(itertools.product(range(dv), repeat=k)):
        if progress is not None and n_done % PROGRESS_STEP == 0 and n_done:
            progress(f"inputs (p = {p})", n_done, total, step_work)
        xs = [[WE[t[i]][a] + WP[i][a] for a in range(dm)] for i in range(k)]
        query = affine(xs[k - 1], WQ, bQ, dh)
        scores = [sum(query[h] * kv[h] for h in range(dh)) for kv in (affine(xv, WK, bK, dh) for xv in xs)]
        smax = max(scores)
        lo = [exp_lo(s, r, (smax - si) / sqrt_lo) for si in scores]
        hi = [exp_hi(s, r, (smax - si) / sqrt_hi) for si in scores]
        ovs = [[sum(vv[h] * WO[h][c] for h in range(dh)) for c in range(dm)]
               for vv in (affine(xv, WV, bV, dh) for xv in xs)]
        m = max(t)
        ok = True
        for j in range(dv):
            if j == m:
                continue
            u = [WU[a][m] - WU[a][j] for a in range(dm)]
            c = sum((xs[k - 1][a] + bO[a]) * u[a] for a in range(dm)) + (bU[m] - bU[j])
            es = [c + sum(ov[a] * u[a] for a in range(dm)) for ov in ovs]
            if not sum(lo[i] * e if e >= 0 else hi[i] * e for i, e in enumerate(es)) > 0:
                ok = False
                break
        count += ok
    if progress is not None:
        progress(f"inputs (p = {p})", total, total, step_work * (total % PROGRESS_STEP) // PROGRESS_STEP)
    return count


def _tensor_literal(e: int, rows: list[list[int]]) -> str:
    return f"(({e})%Z, [" + "; ".join("[" + "; ".join(str(m) for m in row) + "]" for row in rows) + "]%Z)"


def data_record(cert, claim: Fraction) -> list[str]:
    """Lines of `Definition data : Data`: the configuration, the certificate's float32 weights exactly, the claim."""
    cfg = cert.config
    lines = ["Definition data : Data := {|",
             f"  d_vocab := {cfg.d_vocab}%nat; d_model := {cfg.d_model}%nat; d_head := {cfg.d_head}%nat; "
             f"n_ctx := {cfg.n_ctx}%nat;"]
    for field, (e, rows) in weight_literals(cert).items():
        lines.append(f"  {SPEC_FIELDS[field]} := {_tensor_literal(e, rows)};")
    return lines + [f"  claim_num := {claim.numerator}%Z; claim_den := {claim.denominator}%Z |}}."]


def render_theorem_file(cert, p: int, r: int) -> str:
    """The exported file: the Data record of the certificate and the theorem accuracy_bound."""
    cfg = cert.config
    lines = [
        "(* compact-proofs: a machine-checked accuracy bound for a brute-force certificate.",
        f"   model: d_vocab {cfg.d_vocab}, d_model {cfg.d_model}, d_head {cfg.d_head}, n_ctx (K) {cfg.n_ctx}, "
        f"weights sha256 {cert.sha256}",
        f"   claim: accuracy >= {cert.claim.numerator}/{cert.claim.denominator} (~{float(cert.claim):.6f})",
        "   The theorem is about the real-valued model of coq/Spec.v (DESIGN.md) with these weights.",
        "   Compile: make -C coq && coqc -R coq CompactProofs FILE.v (docs/formal-export.md).",
        "   Generated by `certify export-coq`; the data are the certificate's float32 weights, exactly. *)",
        "From Coq Require Import ZArith List Reals.",
        "From CompactProofs Require Import Spec BruteForce.",
        "Import ListNotations.",
        "",
        *data_record(cert, cert.claim),
        "",
        "Theorem accuracy_bound : (claim data <= accuracy (model_of data))%R.",
        f"Proof. apply (brute_force_sound data {p} {r}). vm_cast_no_check (@eq_refl bool true). Qed.",
        "",
    ]
    return "\n".join(lines)


def export_theorem(cert, precision: tuple[int, int] | None = None, progress=None) -> tuple[str, dict]:
    """The theorem file for a brute-force certificate, at the first precision whose Coq check reaches the claim
    (computed here by `bf_count`); raises ExportError if none does."""
    from generator.export import ExportError

    if cert.schema != "brute-force" or cert.schema_version != 1:
        raise ExportError(f"no accuracy_bound export for schema {cert.schema} v{cert.schema_version}")
    cfg = cert.config
    if min(cfg.d_vocab, cfg.n_ctx, cfg.d_head) < 1:
        raise ExportError("the Coq brute-force check needs d_vocab, n_ctx, d_head >= 1")
    total = cfg.d_vocab ** cfg.n_ctx  # all enumerated: export_file refuses it over the budget (export/estimate.py)
    tried = []
    for p, r in (precision,) if precision else PRECISIONS:
        count = bf_count(cert, p, r, progress)
        tried.append({"prec": p, "squarings": r, "count": count})
        if cert.claim * total <= count:
            return render_theorem_file(cert, p, r), {"prec": p, "squarings": r, "count": count, "tried": tried}
    raise ExportError(f"the Coq brute-force check proves {tried[-1]['count']}/{total} < the claim "
                      f"{cert.claim.numerator}/{cert.claim.denominator} at every precision tried: {tried}")
