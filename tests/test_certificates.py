"""Certificate format, tampering, the certcheck CLI, independence from torch, and the shipped certificates."""

import glob
import json
import os
import random
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from conftest import ROOT, random_params
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.certificate import Certificate, MalformedCertificate, hexfloat32, parse_certificate
from checker.model import ModelConfig, weights_sha256
from checker.verify import check_certificate, check_file

CFG = ModelConfig(d_vocab=5, d_model=4, d_head=4, n_ctx=3)


def _format(cert):
    from generator.certwriter import format_certificate  # the writer lives in the generator

    return format_certificate(cert)


@pytest.fixture(scope="module")
def tiny_cert_text() -> str:
    params = random_params(CFG, 11, scale=1.0, bias_scale=0.7)
    cert = Certificate(1, "brute-force", 1, CFG, weights_sha256(CFG, params), params, {}, Fraction(0), {})
    v = check_certificate(cert)
    assert v.verdict == "accepted" and v.bound > 0
    cert.claim = v.bound
    return _format(cert)


def _write(tmp_path, text, name="c.cert"):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(p)


def test_write_parse_write_is_byte_identical(tiny_cert_text):
    cert = parse_certificate(tiny_cert_text)
    assert _format(cert) == tiny_cert_text


def test_hexfloat_round_trip_exact():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.standard_normal(1000) * 10.0 ** rng.integers(-40, 38, 1000),
                             [0.0, -0.0, 1.0, -1.0, 1e-45, 3.4028235e38]]).astype(np.float32)
    for x in values.tolist():
        text = hexfloat32(x)
        assert float.fromhex(text) == x and str(np.signbit(x)) == str(np.signbit(float.fromhex(text)))


def test_accepts_valid(tmp_path, tiny_cert_text):
    v = check_file(_write(tmp_path, tiny_cert_text))
    assert v.verdict == "accepted"


def _claim_of(text):
    return parse_certificate(text).claim


def test_raised_claim_rejected(tmp_path, tiny_cert_text):
    claim = _claim_of(tiny_cert_text)
    raised = claim + Fraction(1, 5 ** 3)
    text = tiny_cert_text.replace(f"claim {claim.numerator}/{claim.denominator}",
                                  f"claim {raised.numerator}/{raised.denominator}")
    v = check_file(_write(tmp_path, text))
    assert v.verdict == "rejected" and "exceeds the bound" in v.reason


def test_changed_weight_rejected_by_hash(tmp_path, tiny_cert_text):
    cert = parse_certificate(tiny_cert_text)
    cert.params["unembed.W_U"][0, 0] = np.float32(cert.params["unembed.W_U"][0, 0] * 2 + 1)
    v = check_file(_write(tmp_path, _format(cert)))
    assert v.verdict == "rejected" and "hash" in v.reason


def test_changed_weight_with_fixed_hash_is_recomputed(tmp_path, tiny_cert_text):
    cert = parse_certificate(tiny_cert_text)
    cert.params["unembed.W_U"][:] = 0  # with b_U zero too, every logit ties: the true accuracy is 0
    cert.params["unembed.b_U"][:] = 0
    cert.sha256 = weights_sha256(cert.config, cert.params)
    v = check_file(_write(tmp_path, _format(cert)))
    assert v.verdict == "rejected" and v.bound == 0


def test_changed_hash_rejected(tmp_path, tiny_cert_text):
    cert = parse_certificate(tiny_cert_text)
    cert.sha256 = "0" * 64
    v = check_file(_write(tmp_path, _format(cert)))
    assert v.verdict == "rejected" and "hash" in v.reason


def test_claim_above_one_rejected(tmp_path, tiny_cert_text):
    claim = _claim_of(tiny_cert_text)
    text = tiny_cert_text.replace(f"claim {claim.numerator}/{claim.denominator}", "claim 2/1")
    assert check_file(_write(tmp_path, text)).verdict == "rejected"


def test_witness_for_brute_force_rejected(tmp_path, tiny_cert_text):
    text = tiny_cert_text.replace("witness {\n", "witness {\n  cheat 1\n")
    v = check_file(_write(tmp_path, text))
    assert v.verdict == "rejected" and "witness" in v.reason


@pytest.mark.parametrize("mutation", ["truncate", "junk", "random", "huge_int", "huge_exp", "noncanonical",
                                      "empty", "binary", "dup_tensor", "bad_version", "unknown_schema",
                                      "zero_den", "extra_value", "missing_field", "long_witness_int",
                                      "glued_claim"])
def test_malformed_inputs(tmp_path, tiny_cert_text, mutation):
    t = tiny_cert_text
    claim = _claim_of(t)
    claim_line = f"claim {claim.numerator}/{claim.denominator}"
    cases = {
        "truncate": t[: len(t) // 2],
        "junk": t + "garbage }\n",
        "random": "".join(random.Random(1).choice("abc{}[]0123 \n\"x") for _ in range(5000)),
        "huge_int": t.replace("d_vocab 5", "d_vocab " + "9" * 5000),
        "huge_exp": t.replace(claim_line, "claim " + "1" * 3000 + "/3"),
        "noncanonical": t.replace("p-", "p-0", 1),
        "empty": "",
        "binary": bytes(range(256)) * 4,
        "dup_tensor": t.replace('  tensor "unembed.b_U"', '  tensor "unembed.W_U" [1] {\n    0x0p+0\n  }\n'
                                '  tensor "unembed.b_U"', 1),
        "bad_version": t.replace("compact-proofs-certificate 1", "compact-proofs-certificate 99"),
        "unknown_schema": t.replace('schema "brute-force" 1', 'schema "magic" 1'),
        "zero_den": t.replace(claim_line, "claim 1/0"),
        "extra_value": t.replace("0x", "0x0p+0 0x", 1),
        "missing_field": t.replace("  d_head 4\n", ""),
        "long_witness_int": t.replace("witness {\n", "witness {\n  x [" + "7" * 2001 + "]\n"),
        "glued_claim": t.replace(claim_line + "\n", claim_line + "meta {\n}\n"),
    }
    v = check_file(_write(tmp_path, cases[mutation]))
    assert v.verdict == "malformed", (mutation, v.verdict, v.reason)
    assert v.reason


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_certificates_never_crash_or_overclaim(tiny_cert_text, data):
    text = tiny_cert_text
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(text)))
        kind = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        chunk = data.draw(st.text(alphabet="0123456789abcdefx.p+-/{}[]\" \n", min_size=1, max_size=8))
        if kind == "insert":
            text = text[:pos] + chunk + text[pos:]
        elif kind == "delete":
            text = text[:pos] + text[pos + len(chunk):]
        else:
            text = text[:pos] + chunk + text[pos + len(chunk):]
    try:
        cert = parse_certificate(text)
    except MalformedCertificate as exc:
        assert str(exc)
        return
    v = check_certificate(cert)
    assert v.verdict in ("accepted", "rejected", "malformed")
    if v.verdict == "accepted":
        from reference import exhaustive_accuracy

        assert cert.claim <= exhaustive_accuracy(cert.params)


def _certcheck(*args, env=None):
    return subprocess.run([sys.executable, "-m", "checker", *args], capture_output=True, text=True, env=env, cwd=ROOT)


def test_cli_exit_codes_and_json(tmp_path, tiny_cert_text):
    good = _write(tmp_path, tiny_cert_text, "good.cert")
    claim = _claim_of(tiny_cert_text)
    bad = _write(tmp_path, tiny_cert_text.replace(f"claim {claim.numerator}/{claim.denominator}", "claim 1/1"),
                 "bad.cert")
    broken = _write(tmp_path, "not a certificate", "broken.cert")
    p = _certcheck(good)
    assert p.returncode == 0 and p.stdout.startswith("ACCEPTED")
    p = _certcheck(good, bad)
    assert p.returncode == 1 and "REJECTED" in p.stdout
    p = _certcheck(good, bad, broken, "--json")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["verdict"] for r in rows] == ["accepted", "rejected", "malformed"]
    for key in ("file", "verdict", "bound", "bound_float", "schema", "model_sha256", "reason", "seconds"):
        assert all(key in r for r in rows)
    assert rows[0]["bound"] == f"{claim.numerator}/{claim.denominator}"
    assert rows[0]["complexity_class"] == "exponential" and rows[0]["proof_length"] > 0  # tiny_cert is brute force
    assert rows[2]["complexity_class"] is None
    p = _certcheck(str(tmp_path / "absent.cert"))
    assert p.returncode == 2 and "MALFORMED" in p.stdout


BLOCKER = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'generator'):
            raise ImportError('blocked for the independence test: ' + name)
        return None
sys.meta_path.insert(0, _Block())
from checker.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_checker_runs_without_torch_or_generator(tmp_path, tiny_cert_text):
    good = _write(tmp_path, tiny_cert_text)
    p = subprocess.run([sys.executable, "-c", BLOCKER, good], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ACCEPTED" in p.stdout


def test_checker_source_imports_neither_torch_nor_generator():
    import re

    for path in glob.glob(os.path.join(ROOT, "checker", "**", "*.py"), recursive=True):
        src = open(path, encoding="utf-8").read()
        assert not re.search(r"^\s*(import|from)\s+(torch|generator)\b", src, re.M), path


SHIPPED = sorted(glob.glob(os.path.join(ROOT, "certificates", "*.cert")))


@pytest.mark.parametrize("path", SHIPPED, ids=[os.path.basename(p) for p in SHIPPED])
def test_shipped_certificates_are_accepted(path):
    v = check_file(path)
    assert v.verdict == "accepted", v.reason
    assert v.bound >= v.claim > 0


def test_shipped_certificates_exist():
    names = {os.path.basename(p) for p in SHIPPED}
    for seed in (123, 50, 104, 519, 742):
        assert f"max4-v64-s{seed}.brute-force.cert" in names
