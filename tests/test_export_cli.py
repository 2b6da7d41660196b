"""`certify export-coq` / `export-lean` as a user meets them: the cost estimated before any work and refused over
the budget (exit 2, with the estimate), progress on long exports, the work metered as it goes, a plain statement
when the Coq theorem proves less than the certificate claims, and exit 2 (never 1) for every export failure."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from contextlib import redirect_stderr
from fractions import Fraction

import pytest
from conftest import ROOT, certificate, random_params

from checker.budget import Budget, OverBudget, metered
from checker.model import ModelConfig
from generator.certwriter import write_certificate
from generator.export import export_file
from generator.export.estimate import (FRACTION_OP_WORK, Progress, bf_ops_per_input, estimate_export)

TINY = ModelConfig(d_vocab=5, d_model=4, d_head=4, n_ctx=3)
# the case: Max-of-3 with d_vocab 16 and d_model = d_head = 32 (a 2 min 43 s export, coqc over 8 minutes)
K3V16 = ModelConfig(d_vocab=16, d_model=32, d_head=32, n_ctx=3)


def certify(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "generator", *args], capture_output=True, text=True, cwd=ROOT)


def _subcubic(params):
    pytest.importorskip("torch")
    from generator.generate import build_certificate

    return build_certificate(TINY, params, "subcubic", progress=False)[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    base = tmp_path_factory.mktemp("export_cli")
    out = {}
    for name, cert in (("tiny", certificate(TINY, random_params(TINY, 11, scale=1.0, bias_scale=0.7))),
                       ("k3v16", certificate(K3V16, random_params(K3V16, 5, scale=0.5))),
                       # joint cubic, seed 6: the checker proves 26/125, the coarser Coq check 21/125
                       ("below", certificate(TINY, random_params(TINY, 6, scale=3.0, bias_scale=0.7), "cubic",
                                             {"direct_path": "joint"})),
                       ("subcubic", _subcubic(random_params(TINY, 11, scale=1.0, bias_scale=0.7)))):
        path = base / f"{name}.cert"
        write_certificate(str(path), cert)
        out[name] = (path, cert)
    out["base"] = base
    return out


def test_the_k3_v16_brute_force_export_is_refused_at_once_with_its_estimate(files):
    path, cert = files["k3v16"]
    est = estimate_export(cert, "coq")
    assert est.prover_work > Budget().max_work  # coqc's check of the file: about 50 minutes of one core
    out = files["base"] / "k3v16.v"
    p = certify("export-coq", str(path), "-o", str(out))
    assert p.returncode == 2, p.stderr
    line = p.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert line.startswith("certify: over budget: coqc's check of this brute-force certificate's export needs about")
    assert "(raise it with --max-work N); estimate: export about" in line and "a file of about" in line
    assert re.search(r"coqc about [0-9.e+]+ operations \(~\d+ min\)", line), line
    assert not out.exists()


def test_a_small_work_limit_refuses_even_a_tiny_export_and_memory_is_a_budget_too(files):
    path, _ = files["tiny"]
    p = certify("export-coq", str(path), "-o", str(files["base"] / "t1.v"), "--max-work", "1e5")
    assert p.returncode == 2 and "over budget: exporting this brute-force certificate needs about" in p.stderr
    p = certify("export-lean", str(path), "-o", str(files["base"] / "t1.lean"), "--max-memory", "1M")
    assert p.returncode == 2 and "over budget" in p.stderr and "of memory" in p.stderr
    assert not (files["base"] / "t1.v").exists() and not (files["base"] / "t1.lean").exists()


def test_estimate_matches_the_metered_work_and_the_exported_file(files, tmp_path):
    """The estimate is the work the export charges as it goes (per precision tried), and the file size is near."""
    path, cert = files["tiny"]
    est = estimate_export(cert, "coq")
    info = export_file(str(path), str(tmp_path / "t.v"), "coq", cert=cert)
    tried = len(info["tried"])
    assert info["work"] == FRACTION_OP_WORK * bf_ops_per_input(TINY) * TINY.d_vocab ** TINY.n_ctx * tried
    assert est.work * tried == info["work"]
    assert 0.3 < info["bytes"] / est.file_bytes < 3


def test_the_meter_stops_an_export_that_runs_past_the_budget(files, tmp_path):
    """A budget that admits the estimate of one precision stops the export during a later one (here: the first
    precision is made to fail by raising the claim) rather than letting it run on."""
    from generator.export.coq_theorem import export_theorem

    from generator.export import ExportError

    cert = certificate(TINY, random_params(TINY, 11, scale=1.0, bias_scale=0.7))
    cert.claim = Fraction(1)  # no precision reaches it: all five would be tried
    est = estimate_export(cert, "coq")
    with pytest.raises(OverBudget, match="over budget: exporting .* the work reaches"):
        with metered(Budget(max_work=est.work + est.work // 2)):
            export_theorem(cert, progress=Progress("x", enabled=False))
    with pytest.raises(ExportError, match="at every precision tried"):  # with room for all five: a refusal
        with metered(Budget(max_work=est.work * 5)):
            export_theorem(cert, progress=Progress("x", enabled=False))


def test_progress_is_shown_on_long_exports(files):
    _, cert = files["tiny"]
    from generator.export.coq_theorem import bf_count

    calls = []
    bf_count(cert, 32, 12, progress=lambda what, done, total, work=0: calls.append((what, done, total)))
    assert calls[-1] == ("inputs (p = 32)", 125, 125) and [c[1] for c in calls] == sorted(c[1] for c in calls)
    assert calls[0][1] == 64  # every PROGRESS_STEP inputs
    shown = io.StringIO()
    progress = Progress("certify export-coq a.cert", enabled=True)
    with redirect_stderr(shown):
        progress("inputs (p = 32)", 64, 4096)
        progress.clear()
    assert "certify export-coq a.cert: inputs (p = 32) 64/4096" in shown.getvalue()


def test_cubic_progress_reports_every_max_token(files):
    from generator.export.coq_cubic import cubic_classes
    from generator.export.common import weight_literals

    _, cert = files["below"]
    calls = []
    cubic_classes(TINY, weight_literals(cert), 32, 20, progress=lambda what, done, total, work=0: calls.append(done))
    assert calls[0] == 0 and calls[-1] == TINY.d_vocab and len(calls) == TINY.d_vocab + 2


def test_the_export_line_says_when_the_coq_theorem_proves_less_than_the_claim(files):
    path, cert = files["below"]
    p = certify("export-coq", str(path), "-o", str(files["base"] / "below.v"))
    assert p.returncode == 0, p.stderr
    line = p.stdout.strip().splitlines()[-1]
    assert line == ("accuracy_bound proves accuracy >= 21/125 (0.168000), BELOW the certificate's claim 26/125 "
                    "(0.208000): the Coq check proves 21 of the 125 inputs correct (it is coarser than certcheck, "
                    "which proves the certificate's claim)"), line
    text = (files["base"] / "below.v").read_text()
    assert "BELOW the certificate's claim" in text and "proves 21 of the 125 inputs correct" in text
    assert cert.claim == Fraction(26, 125)


def test_the_export_line_says_when_the_coq_theorem_proves_the_claim(files):
    path, cert = files["tiny"]
    p = certify("export-coq", str(path), "-o", str(files["base"] / "tiny.v"))
    assert p.returncode == 0, p.stderr
    n = cert.claim * 125
    assert n.denominator == 1
    assert re.search(rf"^accuracy_bound proves the certificate's claim, accuracy >= {n.numerator}/125 "
                     rf"\({float(cert.claim):.6f}\); the Coq check proves \d+ of the 125 inputs correct$",
                     p.stdout, re.M), p.stdout


@pytest.mark.parametrize("case", ["unknown schema", "bad file name", "malformed", "missing"])
def test_every_export_failure_exits_2_with_one_line(files, case):
    tiny, _ = files["tiny"]
    base = files["base"]
    (base / "bad.cert").write_text("not a certificate")
    args = {"unknown schema": ("export-coq", str(files["subcubic"][0]), "-o", str(base / "s.v")),
            "bad file name": ("export-coq", str(tiny), "-o", str(base / "my-cert.v")),
            "malformed": ("export-lean", str(base / "bad.cert"), "-o", str(base / "b.lean")),
            "missing": ("export-coq", str(base / "nothing.cert"), "-o", str(base / "n.v"))}[case]
    p = certify(*args)
    assert p.returncode == 2, (case, p.stderr)
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr, p.stderr
    if case == "unknown schema":
        assert "no formal export for schema subcubic" in p.stderr
    if case == "bad file name":
        assert "Coq identifier" in p.stderr and "my_cert.v" in p.stderr


def test_a_check_only_export_charges_each_precision_it_runs(files, tmp_path):
    path, cert = files["tiny"]
    info = export_file(str(path), str(tmp_path / "t.lean"), "lean", cert=cert)
    assert info["work"] == estimate_export(cert, "lean").work * len(info["tried"]) > 0
