"""Formal export: a certificate's check as a Coq or Lean 4 file that re-proves it by evaluation.

Each schema describes its checking algorithm and data once, in the small language of `ir.py`
(`brute_force.py`, `cubic.py`, on top of `library.py`); `coq.py` and `lean.py` print that one
description, and `pyeval.py` runs it in Python so that the exporter can choose precision hints for
which the exported check succeeds, before it writes a file. See docs/formal-export.md.
"""

from __future__ import annotations

import time

from generator.export import ir

LANGUAGES = ("coq", "lean")


class ExportError(Exception):
    """The certificate cannot be exported (unknown schema, or the exported check would not succeed)."""


def _builder(cert):
    if cert.schema == "brute-force" and cert.schema_version == 1:
        from generator.export import brute_force
        return brute_force.build, brute_force.PRECISIONS
    if cert.schema == "cubic" and cert.schema_version == 1:
        from generator.export import cubic
        if cert.witness.get("direct_path") in ("per-output", "top-outputs"):
            _check_joint_reaches_claim(cert)
        return cubic.build, cubic.PRECISIONS
    raise ExportError(f"no formal export for schema {cert.schema} v{cert.schema_version}")


def _check_joint_reaches_claim(cert) -> None:
    """The export checks per-output and top-outputs cubic certificates with the joint bound; refuse early if
    that falls short."""
    from fractions import Fraction

    import flint

    from checker.maxofk import build_tables
    from checker.schemas.cubic import cubic_counts

    flint.ctx.prec = 128
    joint = Fraction(cubic_counts(build_tables(cert.config, cert.params), "joint")["correct"],
                     cert.config.d_vocab ** cert.config.n_ctx)
    if joint < cert.claim:
        raise ExportError(f"the export has no {cert.witness.get('direct_path')} cubic check yet, and the joint "
                          f"bound it uses proves "
                          f"{float(joint):.6f} < the claim {float(cert.claim):.6f}; export a joint or separate "
                          f"cubic certificate instead")


def build_program(cert, prec: int | None = None, verify: bool = True, progress=None) -> tuple[ir.Program, dict]:
    """The exported program for a certificate. With verify, try the precisions in turn and return the first
    whose check succeeds when run (in Python); raise ExportError if none does. progress(what, done, total) is
    called before each precision is run."""
    build, precisions = _builder(cert)
    if prec is not None:
        precisions = (prec,)
    from generator.export.pyeval import run_python

    info: dict = {"tried": []}
    for i, p in enumerate(precisions):
        prog = build(cert, p)
        if not verify:
            return prog, {"prec": p}
        if progress is not None:
            progress(f"checking at precision {p}", i, len(precisions))
        start = time.perf_counter()
        ok = run_python(prog)
        info["tried"].append({"prec": p, "ok": bool(ok), "seconds": round(time.perf_counter() - start, 2)})
        if ok:
            info["prec"] = p
            return prog, info
    raise ExportError(f"the exported check does not reach the claim at precisions {list(precisions)}: "
                      f"{info['tried']}")


def render(program: ir.Program, language: str) -> str:
    if language == "coq":
        from generator.export.coq import print_coq
        return print_coq(program)
    if language == "lean":
        from generator.export.lean import print_lean
        return print_lean(program)
    raise ValueError(f"unknown language {language!r} (known: {', '.join(LANGUAGES)})")


def export_certificate(cert, language: str, prec: int | None = None, verify: bool = True,
                       progress=None) -> tuple[str, dict]:
    """The text of the exported file, and information on how it was built."""
    prog, info = build_program(cert, prec, verify, progress)
    return render(prog, language), info


def check_output_name(out_path: str, language: str) -> None:
    """Raise ExportError if out_path cannot hold the export (coqc needs a file name that is an identifier)."""
    import os
    import re

    stem = os.path.splitext(os.path.basename(out_path))[0]
    if language == "coq" and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_']*", stem):
        raise ExportError(f"coqc needs a file name that is a Coq identifier (letters, digits, _), "
                          f"not {stem!r}: e.g. {re.sub(r'[^A-Za-z0-9_]', '_', stem) or 'export'}.v")


def export_file(cert_path: str, out_path: str, language: str, prec: int | None = None, progress=None,
                cert=None, budget=None) -> dict:
    """Read a certificate (or take the parsed `cert`), export it, write the file; returns build information.

    Refuses (checker.budget.OverBudget, with the estimate) before any work when the export or coqc's check of
    its file is estimated over the budget (default: checker.budget.Budget()), and meters the work as it goes.
    progress(what, done, total, work=0): see generator.export.estimate.Progress. info["work"] is the work charged."""
    from checker.budget import Budget, metered
    from checker.certificate import read_certificate
    from generator.export.estimate import estimate_export

    check_output_name(out_path, language)
    budget = Budget() if budget is None else budget
    if cert is None:
        cert = read_certificate(cert_path, budget)
    estimate = estimate_export(cert, language)
    if estimate is not None:
        estimate.require(budget)
    if progress is None:  # no display, but the work is still charged to the meter
        from generator.export.estimate import Progress

        progress = Progress("", enabled=False)
    with metered(budget) as meter:
        info = _export_and_write(cert, out_path, language, prec, progress)
    info["work"] = meter.work  # as charged while exporting (the estimate's unit)
    return info


def _export_and_write(cert, out_path: str, language: str, prec: int | None, progress) -> dict:
    if language == "coq" and cert.schema == "brute-force":
        # data + Theorem accuracy_bound over the reals, proved by the coq/ library (coq_theorem.py)
        from generator.export.coq_theorem import export_theorem
        text, info = export_theorem(cert, None if prec is None else (prec, max(12, prec // 2)), progress)
    elif language == "coq" and cert.schema == "cubic":
        # data + hints + Theorem accuracy_bound over the reals, proved by coq/Cubic.v's cubic_sound (coq_cubic.py)
        from generator.export.coq_cubic import export_cubic_theorem
        text, info = export_cubic_theorem(cert, None if prec is None else (prec, max(20, prec // 2)), progress)
    else:  # a check-only program, run in Python at each precision tried: each run charged at the estimate
        from generator.export.estimate import estimate_export

        estimate = estimate_export(cert, language)
        per_run = estimate.work if estimate is not None else 0

        def each_precision(what, done, total, work=0):
            progress(what, done, total, per_run)

        text, info = export_certificate(cert, language, prec, progress=each_precision)
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    info["bytes"] = len(text.encode())
    info["total"] = cert.config.d_vocab ** cert.config.n_ctx
    info["certificate_claim"] = str(cert.claim)
    if "count" in info:  # an accuracy_bound file: the claim it proves (the certificate's, or the Coq count's)
        info.setdefault("claim", str(cert.claim))
    return info
