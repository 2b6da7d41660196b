"""`make demo` ends by saying in words what was proved, and every command in it writes a bound as correct inputs /
all inputs (16772808/16777216, as `certify eval` counts), never the reduced fraction (2096601/2097152)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from fractions import Fraction

import pytest
from conftest import ROOT, certificate, random_params

from checker.model import ModelConfig
from generator.certwriter import write_certificate
from generator.report import inputs_fraction, proved_summary

CFG = ModelConfig(d_vocab=6, d_model=4, d_head=4, n_ctx=3)


def test_inputs_fraction_keeps_the_input_count_as_denominator():
    assert inputs_fraction(Fraction(2096601, 2097152), 64 ** 4) == "16772808/16777216"
    assert inputs_fraction(Fraction(1), 4096) == "4096/4096"
    assert inputs_fraction(Fraction(0), 216) == "0/216"
    assert inputs_fraction(Fraction(1, 3), 64) == "1/3"  # not a whole number of inputs: the fraction itself


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    from generator.modelio import save_model

    base = tmp_path_factory.mktemp("demo")
    params = random_params(CFG, 21, scale=1.2, bias_scale=0.3)
    model = base / "m.safetensors"
    save_model(str(model), CFG, params)
    certs = []
    for schema, witness in (("brute-force", None), ("cubic", {"direct_path": "separate"})):
        path = base / f"m.{schema}.cert"
        write_certificate(str(path), certificate(CFG, params, schema, witness))
        certs.append(str(path))
    other = base / "other.safetensors"
    save_model(str(other), CFG, random_params(CFG, 22))
    return {"model": str(model), "certs": certs, "other": str(other), "base": base}


def test_the_summary_says_what_was_proved_over_all_inputs_of_which_model(demo_files):
    lines = proved_summary(demo_files["model"], demo_files["certs"])
    total = CFG.d_vocab ** CFG.n_ctx
    from checker.certificate import read_certificate

    claims = {p: read_certificate(p).claim for p in demo_files["certs"]}
    best_path = max(claims, key=claims.get)
    n = claims[best_path] * total
    assert n.denominator == 1
    for path, claim in claims.items():
        assert any(path in line and f"accuracy >= {inputs_fraction(claim, total)} ({float(claim):.6f})" in line
                   for line in lines)
    sentence = lines[-1]
    assert sentence.startswith(f"In words: on every one of the 6^3 = {total} possible inputs (3 tokens from 0..5), "
                               f"the model in {demo_files['model']} (weights sha256 ")
    assert f"outputs the largest token for at least {n.numerator} of them (accuracy >= {float(n / total):.6f})" \
        in sentence
    assert f"proved by the brute-force certificate {best_path}" in sentence


def test_the_summary_refuses_certificates_about_another_model(demo_files):
    with pytest.raises(ValueError, match="is about weights with sha256"):
        proved_summary(demo_files["other"], demo_files["certs"])
    p = subprocess.run([sys.executable, "-m", "generator.report", "--proved", demo_files["other"],
                        *demo_files["certs"]], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and p.stdout == "" and len(p.stderr.strip().splitlines()) == 1


def test_the_makefile_demo_checks_against_the_model_and_ends_with_the_summary():
    text = open(os.path.join(ROOT, "Makefile")).read()
    demo = text.split("\ndemo:")[1].split("\n\n")[0].strip().splitlines()
    assert "certcheck --model $(MODEL) $(DEMO_CERTS)" in demo[-3]
    assert demo[-1].strip() == "@$(BIN)/python -m generator.report --proved $(MODEL) $(DEMO_CERTS)"


@pytest.mark.skipif(shutil.which("make") is None or not os.path.exists(os.path.join(ROOT, ".venv", "bin", "certify")),
                    reason="make or the project's .venv is missing")
def test_make_demo_on_a_small_model_ends_with_the_sentence(demo_files):
    """The demo target itself, on a small model (-o: the installed .venv is taken as it is): eval, generate and
    the summary write the same correct/total fraction, and the output ends with the sentence."""
    out = demo_files["base"] / "out"
    p = subprocess.run(["make", "-s", "-C", ROOT, "-o", ".venv/.installed-stamp", "demo",
                        f"MODEL={demo_files['model']}", f"OUT={out}"], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    total = CFG.d_vocab ** CFG.n_ctx
    last = p.stdout.strip().splitlines()[-1]
    assert last.startswith(f"In words: on every one of the 6^3 = {total} possible inputs"), p.stdout
    (correct,) = re.findall(rf"float accuracy [0-9.]+ \((\d+)/{total}, all inputs\)", p.stdout)
    brute = re.search(rf"demo\.brute-force\.cert: brute-force certificate, accuracy >= (\d+)/(\d+) ", p.stdout)
    assert brute and brute.group(2) == str(total), p.stdout
    assert correct.isdigit()  # eval's count and the certificate's share the denominator: all inputs
    assert f"for at least {brute.group(1)} of them" in last and f"{brute.group(1)}/{total}" in p.stdout
