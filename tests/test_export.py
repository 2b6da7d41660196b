"""Formal export (generator/export, docs/formal-export.md): the exported algorithm's bounds, its agreement with
the checker, coqc on exported files (valid and tampered), and the Lean file's structure (lean when present)."""

from __future__ import annotations

import dataclasses
import os
import random
import re
import shutil
import subprocess
import time
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from conftest import ROOT, certificate, random_params
from small_models import adversarial_models

from checker.model import ModelConfig
from generator.export import build_program, export_certificate, ir
from generator.export.coq import print_coq
from generator.export.lean import print_lean
from generator.export.pyeval import namespace_of, run_python

COQC = shutil.which("coqc")
LEAN = shutil.which("lean")
needs_coq = pytest.mark.skipif(COQC is None, reason="coqc not on PATH (Debian package `coq`)")
TINY = ModelConfig(d_vocab=5, d_model=4, d_head=4, n_ctx=3)


@pytest.fixture(scope="module")
def tiny_bf():
    return certificate(TINY, random_params(TINY, 11, scale=1.0, bias_scale=0.7))


def coqc(tmp_path, text: str, name: str = "export.v", timeout: int = 900) -> tuple[int, str, float]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    start = time.perf_counter()
    proc = subprocess.run([COQC, "-q", name], cwd=tmp_path, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr, time.perf_counter() - start


def with_data(program: ir.Program, **changes) -> ir.Program:
    """The same program with some fields of its data literal replaced (what editing the file's numbers does)."""
    decls = []
    for d in program.decls:
        if isinstance(d, ir.Def) and d.name == program.data:
            values = tuple((f, changes.get(f, x)) for f, x in d.body.values)
            d = dataclasses.replace(d, body=ir.RecordLit(d.body.rec, values))
        decls.append(d)
    return dataclasses.replace(program, decls=decls)


def data_value(program: ir.Program, field: str):
    (d,) = [d for d in program.decls if isinstance(d, ir.Def) and d.name == program.data]
    return dict(d.body.values)[field]


def dyadic_value(e: int, rows) -> ir.Expr:
    return ir.pair(ir.Int(e), ir.int_matrix(rows))


def one_weight_breaking_the_check(prog: ir.Program) -> ir.Program:
    """The program with one W_U literal scaled so that its check (run in Python) becomes false."""
    e, rows = literal_rows(data_value(prog, "w_U"))
    for i, j, factor in [(r, c, f) for f in (-1, 8, -64, 4096) for r in range(len(rows)) for c in range(len(rows[0]))]:
        changed = [list(r) for r in rows]
        changed[i][j] *= factor
        tampered = with_data(prog, w_U=dyadic_value(e, changed))
        if run_python(tampered) is False:
            return tampered
    pytest.fail("no single-weight change makes the check false")


def literal_rows(expr) -> tuple[int, list[list[int]]]:
    e, mat = expr.args
    return e.value, [[x.value for x in row.items] for row in mat.items]


# ----------------------------------------------------------------------------------- the algorithm


def test_exp_bounds_enclose_exp():
    """exp_lo(y) <= 2^p exp(-y/2^p) <= exp_hi(y), for the exported functions, against mpmath at 300 digits."""
    cert = certificate(TINY, random_params(TINY, 1))
    rnd = random.Random(5)
    mpmath.mp.dps = 300
    for p in (8, 40, 64, 200):
        ns = namespace_of(build_program(cert, prec=p, verify=False)[0])
        n = ns["data"]["hint_terms"]
        ys = [0, 1, 2, 3, 2 ** p - 1, 2 ** p, 2 ** (p - 1), 2 ** (p + 1) + 7, 5 * 2 ** (p + 6), 2 ** (p + 12) + 1]
        ys += [rnd.randrange(1, 2 ** (p + rnd.randrange(-p + 1, 14))) for _ in range(60)]
        for y in ys:
            lo, hi = ns["exp_lo"](y, p, n), ns["exp_hi"](y, p, n)
            exact = mpmath.exp(-mpmath.mpf(y) / 2 ** p) * 2 ** p
            assert lo <= exact <= hi, (p, y, lo, hi)
            if y < 2 ** (p + 4):  # tight where it matters: a few ulps times the 2^r of the squarings
                slack = 64 * max(1, 2 ** max(0, y.bit_length() + 2 - p))
                assert hi - lo <= slack, (p, y, hi - lo)


def test_weight_bounds_enclose_softmax_factor():
    """weight_bounds(dd) encloses 2^p exp(-dd 2^es / sqrt(d_head)), with the exported sqrt hint, for several d_head."""
    rnd = random.Random(7)
    mpmath.mp.dps = 200
    for d_head in (1, 2, 3, 4, 32, 37):
        cfg = ModelConfig(d_vocab=3, d_model=2, d_head=d_head, n_ctx=2)
        cert = certificate(cfg, random_params(cfg, 3))
        ns = namespace_of(build_program(cert, prec=64, verify=False)[0])
        data = ns["data"]
        assert ns["sqrt_ok"](d_head, data["hint_sqrt_bits"], data["hint_sqrt_root"])
        assert not ns["sqrt_ok"](d_head, data["hint_sqrt_bits"], data["hint_sqrt_root"] + 1)
        assert not ns["sqrt_ok"](d_head, data["hint_sqrt_bits"], data["hint_sqrt_root"] - 1)
        cb = ns["inv_sqrt_bounds"](data["hint_sqrt_bits"], data["hint_sqrt_root"], data["hint_inv_bits"])
        for _ in range(40):
            es = rnd.randrange(-160, 10)
            dd = rnd.randrange(0, 2 ** rnd.randrange(1, 200))
            lo, hi = ns["weight_bounds"](dd, cb, es, data["hint_inv_bits"], 64, data["hint_terms"])
            exact = mpmath.exp(-mpmath.mpf(dd) * mpmath.mpf(2) ** es / mpmath.sqrt(d_head)) * 2 ** 64
            assert lo <= exact <= hi, (d_head, es, dd)


@pytest.mark.parametrize("name,cfg,params", adversarial_models(), ids=[m[0] for m in adversarial_models()])
def test_exported_brute_force_count_equals_checker(name, cfg, params):
    """The exported algorithm (run in Python) proves exactly the inputs the checker proves, on adversarial models."""
    cert = certificate(cfg, params)
    prog, info = build_program(cert)
    ns = namespace_of(prog)
    assert ns["bf_count"](ns["data"]) == cert.claim * cfg.d_vocab ** cfg.n_ctx
    raised = with_data(prog, claim_num=ir.Int(cert.claim.numerator + 1))
    assert run_python(raised) is False


def test_hints_are_checked_not_trusted(tiny_bf):
    prog, _ = build_program(tiny_bf)
    root = data_value(prog, "hint_sqrt_root").value
    assert run_python(with_data(prog, hint_sqrt_root=ir.Int(root + 1))) is False
    assert run_python(with_data(prog, hint_sqrt_root=ir.Int(root - 1))) is False
    assert run_python(with_data(prog, hint_inv_bits=ir.Int(-200))) is False
    # precision hints only cost precision: a poor one still gives a sound (smaller or equal) count
    ns = namespace_of(with_data(prog, hint_prec=ir.Int(4), hint_terms=ir.Int(1)))
    assert ns["bf_count"](ns["data"]) <= tiny_bf.claim * 125


def test_wrong_shapes_fail(tiny_bf):
    prog, _ = build_program(tiny_bf)
    e, rows = literal_rows(data_value(prog, "w_U"))
    assert run_python(with_data(prog, w_U=dyadic_value(e, [r[:-1] for r in rows]))) is False
    assert run_python(with_data(prog, d_vocab=ir.Int(4))) is False


# ------------------------------------------------------------------------------- the two printers


def _defined_names(text: str, language: str) -> list[str]:
    pattern = r"^(?:Definition|Fixpoint|Record) (\w+)" if language == "coq" else r"^(?:def|structure) (\w+)"
    return re.findall(pattern, text, flags=re.M)


def _data_integers(text: str, language: str) -> list[int]:
    start = text.index("Definition data :" if language == "coq" else "def data :")
    body = text[start:text.rindex("Theorem cert_check" if language == "coq" else "theorem cert_check")]
    body = re.sub(r"sha256 [0-9a-f]+", "", body)
    body = re.sub(r"\(\*.*?\*\)|/-.*?-/", "", body, flags=re.S)
    return [int(x) for x in re.findall(r"-?\d+", body)]


def test_coq_and_lean_print_the_same_program(tiny_bf):
    prog, _ = build_program(tiny_bf)
    coq, lean = print_coq(prog), print_lean(prog)
    lean_names = [n for n in _defined_names(lean, "lean") if n not in ("zfdiv", "zpow2", "zshr", "zlog2", "zmax", "zmin",
                                                                      "zrange")]
    coq_names = [n for n in _defined_names(coq, "coq") if n not in ("zfdiv", "zpow2", "zshr", "zlog2", "zrange")]
    assert lean_names == coq_names and "check" in coq_names and "data" in coq_names
    assert _data_integers(coq, "coq") == _data_integers(lean, "lean")
    # the weights are the certificate's float32 values, exactly: mantissa * 2^e
    e, rows = literal_rows(data_value(prog, "w_U"))
    assert np.array_equal(np.ldexp(np.array(rows, dtype=np.float64), e), tiny_bf.params["unembed.W_U"])


def test_lean_export_structure(tiny_bf):
    text, _ = export_certificate(tiny_bf, "lean")
    assert "theorem cert_check : check data = true := by native_decide" in text
    assert not re.search(r"^\s*import\b", text, flags=re.M), "only Lean's core (the prelude) may be used"
    assert "Mathlib" not in text and "Std." not in text and "Batteries" not in text
    assert "sorry" not in text and "axiom" not in text.replace("axioms", "")
    code = re.sub(r"/-.*?-/|--[^\n]*", "", text, flags=re.S)
    for opening, closing in ("()", "[]", "{}"):
        assert code.count(opening) == code.count(closing)
    assert "structure Data where" in text and "def check (d : Data) : Bool" in text


@pytest.mark.skipif(LEAN is None, reason="lean not on PATH")
def test_lean_accepts_export(tmp_path, tiny_bf):
    text, _ = export_certificate(tiny_bf, "lean")
    (tmp_path / "Export.lean").write_text(text, encoding="utf-8")
    proc = subprocess.run([LEAN, "Export.lean"], cwd=tmp_path, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------------------------------ coqc


@needs_coq
def test_coq_accepts_brute_force(tmp_path, tiny_bf):
    text, _ = export_certificate(tiny_bf, "coq")
    rc, out, seconds = coqc(tmp_path, text)
    assert rc == 0, out
    assert "Require" in text and "Mathlib" not in text


@needs_coq
def test_coq_rejects_raised_claim(tmp_path, tiny_bf):
    text, _ = export_certificate(tiny_bf, "coq")
    num = tiny_bf.claim.numerator
    tampered = text.replace(f"claim_num := {num};", f"claim_num := {num + 1};")
    assert tampered != text
    rc, out, _ = coqc(tmp_path, tampered)
    assert rc != 0 and ("eq_refl" in out or "cert_check" in out), out


@needs_coq
def test_coq_rejects_changed_weight(tmp_path, tiny_bf):
    """One weight literal changed so that the model's accuracy falls below the claim: coqc must fail."""
    prog, _ = build_program(tiny_bf)
    tampered = one_weight_breaking_the_check(prog)
    text, bad = print_coq(prog), print_coq(tampered)
    assert len([1 for a, b in zip(text.splitlines(), bad.splitlines()) if a != b]) == 1  # one literal differs
    rc, out, _ = coqc(tmp_path, bad)
    assert rc != 0, out


# ---------------------------------------------------------------------------------------- cubic

SHIPPED_CUBIC = os.path.join(ROOT, "certificates", "max4-v64-s123.cubic.cert")


@pytest.fixture(scope="module")
def tiny_cubic():
    return certificate(TINY, random_params(TINY, 11, scale=1.0, bias_scale=0.7), "cubic", {"direct_path": "joint"})


@pytest.mark.parametrize("direct_path", ["joint", "separate"])
@pytest.mark.parametrize("name,cfg,params", adversarial_models(), ids=[m[0] for m in adversarial_models()])
def test_exported_cubic_count_is_sound(name, cfg, params, direct_path):
    """The exported cubic count reaches the checker's claim and never exceeds the exhaustive accuracy."""
    from reference import exhaustive_accuracy

    cert = certificate(cfg, params, "cubic", {"direct_path": direct_path})
    prog, _ = build_program(cert)
    ns = namespace_of(prog)
    count = ns["cubic_count"](ns["data"])
    total = cfg.d_vocab ** cfg.n_ctx
    assert cert.claim * total <= count <= exhaustive_accuracy(params) * total
    assert run_python(with_data(prog, claim_num=ir.Int(count * cert.claim.denominator // total + 1))) is False


@needs_coq
def test_coq_tiny_cubic_valid_and_tampered(tmp_path, tiny_cubic):
    prog, _ = build_program(tiny_cubic)
    rc, out, _ = coqc(tmp_path, print_coq(prog), "valid.v")
    assert rc == 0, out
    raised = with_data(prog, claim_num=ir.Int(tiny_cubic.claim.numerator + 1))
    rc, out, _ = coqc(tmp_path, print_coq(raised), "claim.v")
    assert rc != 0, out
    tampered = one_weight_breaking_the_check(prog)
    rc, out, _ = coqc(tmp_path, print_coq(tampered), "weight.v")
    assert rc != 0, out


def test_lean_export_of_shipped_cubic_structure():
    if not os.path.exists(SHIPPED_CUBIC):
        pytest.skip("shipped cubic certificate missing")
    from checker.certificate import read_certificate

    cert = read_certificate(SHIPPED_CUBIC)
    prog, _ = build_program(cert, prec=32, verify=False)
    lean, coq = print_lean(prog), print_coq(prog)
    assert "theorem cert_check : check data = true := by native_decide" in lean
    assert not re.search(r"^\s*import\b", lean, flags=re.M)
    assert _data_integers(coq, "coq") == _data_integers(lean, "lean")
    assert "structure Bounds where" in lean and "def cubic_count (d : Data) : Int" in lean


def test_export_of_a_top_outputs_certificate_above_the_joint_bound_is_refused():
    """The export has no top-outputs check; a claim that only top-outputs reaches is refused with the reason."""
    import dataclasses as dc

    from checker.certificate import read_certificate
    from checker.verify import check_certificate
    from generator.export import ExportError

    cert = read_certificate(SHIPPED_CUBIC)
    cert = dc.replace(cert, witness={"direct_path": "top-outputs", "top_outputs": 4}, claim=Fraction(0))
    cert = dc.replace(cert, claim=check_certificate(cert).bound)
    with pytest.raises(ExportError, match="no top-outputs cubic check yet"):
        build_program(cert, prec=32, verify=False)


# ------------------------------------------------------------------- the real-valued model (Coq Reals)


def _interval_library(tmp_path) -> bool:
    rc, _, _ = coqc(tmp_path, "From Interval Require Import Tactic.\n", "probe.v", timeout=120)
    return rc == 0


@needs_coq
def test_coq_real_model_accuracy_bound(tmp_path, tiny_bf):
    """Stretch: the tiny model's real-valued accuracy bound, proved in Coq with Reals + Interval. The claim is
    cut to 3 inputs to keep the test short (each input costs about 6 s); a wrong count must fail."""
    from generator.export.real import export_real_coq

    if not _interval_library(tmp_path):
        pytest.skip("the Coq Interval library is not installed (Debian package libcoq-interval)")
    cert = dataclasses.replace(tiny_bf, claim=Fraction(3, 125))
    text = export_real_coq(cert, prec=60)
    assert "Theorem accuracy_lower_bound" in text and "length proven = 3%nat" in text
    bad = text.replace("length proven = 3%nat", "length proven = 4%nat")
    for name, t in (("Real.v", text), ("RealBad.v", bad)):
        (tmp_path / name).write_text(t, encoding="utf-8")
    procs = {n: subprocess.Popen([COQC, "-q", n], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True) for n in ("Real.v", "RealBad.v")}
    outs = {n: p.communicate(timeout=1200)[0] for n, p in procs.items()}
    assert procs["Real.v"].returncode == 0, outs["Real.v"]
    assert procs["RealBad.v"].returncode != 0, outs["RealBad.v"]


# ------------------------------------------------------------------------------------------- CLI


def test_cli_export_commands(tmp_path, tiny_bf):
    from generator.certwriter import write_certificate
    from generator.cli import main

    cert_path = str(tmp_path / "tiny.cert")
    write_certificate(cert_path, tiny_bf)
    assert main(["export-coq", cert_path, "-o", str(tmp_path / "t.v")]) == 0
    assert main(["export-lean", cert_path, "-o", str(tmp_path / "t.lean")]) == 0
    assert "Theorem accuracy_bound" in (tmp_path / "t.v").read_text()  # brute force: the theorem over R
    cubic_path = str(tmp_path / "tiny_cubic.cert")
    write_certificate(cubic_path, certificate(TINY, random_params(TINY, 3, scale=3.0, bias_scale=0.7), "cubic",
                                              {"direct_path": "separate"}))
    assert main(["export-coq", cubic_path, "-o", str(tmp_path / "c.v")]) == 0
    assert "apply (cubic_sound data" in (tmp_path / "c.v").read_text()  # cubic: the theorem over R too
    assert "theorem cert_check" in (tmp_path / "t.lean").read_text()
    (tmp_path / "bad.cert").write_text("not a certificate")
    assert main(["export-coq", str(tmp_path / "bad.cert"), "-o", str(tmp_path / "x.v")]) == 2
