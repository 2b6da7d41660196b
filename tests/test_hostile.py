"""Hostile and oversized input (issue 14): every file ends fast, within a memory limit, with exit 1 or 2 and a
bounded one-line reason; budgets refuse by estimate; the parser is the grammar's, and linear."""

import functools
import glob
import json
import os
import resource
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np
import pytest
from conftest import ROOT, certcheck_main, random_params
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import exhaustive_accuracy

from checker.budget import (DEFAULT_MAX_MEMORY, DEFAULT_MAX_WORK, Budget, OverBudget, parse_size, parse_work,
                            schema_estimate)
from checker.certificate import (MAX_REASON, Certificate, MalformedCertificate, _parse_hexfloat32, hexfloat32,
                                 parse_certificate, read_certificate)
from checker.model import ModelConfig, weights_sha256
from checker.schemas import schema_registry
from checker.verify import check_certificate, check_file

sys.path.insert(0, os.path.join(ROOT, "tests", "hostile"))
from make_corpus import _underflow_params, write_corpus  # noqa: E402

CERTCHECK = [sys.executable, "-m", "checker"]
TIME_LIMIT_S = 60
MEMORY_LIMIT = 4 << 30


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (TIME_LIMIT_S, TIME_LIMIT_S))


def _certcheck(*args, timeout=TIME_LIMIT_S * 2):
    return subprocess.run(CERTCHECK + list(args), capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          preexec_fn=_limits)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(str(tmp_path_factory.mktemp("hostile")))


def test_hostile_corpus_ends_fast_with_bounded_reasons(corpus):
    start = time.perf_counter()
    p = _certcheck("--json", *[path for path, _, _ in corpus])
    wall = time.perf_counter() - start
    assert "Traceback" not in p.stderr and p.returncode == 2, p.stderr[-2000:]
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["file"] for r in rows] == [path for path, _, _ in corpus]  # no file stopped the next one
    for row, (path, codes, what) in zip(rows, corpus):
        code = {"accepted": 0, "rejected": 1, "malformed": 2, "refused": 2}[row["verdict"]]
        assert code in codes, (what, row["verdict"], row["reason"])
        assert row["reason"] and len(row["reason"]) <= MAX_REASON and "\n" not in row["reason"], what
        assert row["seconds"] < TIME_LIMIT_S, what
    assert wall < TIME_LIMIT_S * 2


def test_text_output_is_one_line_per_file(corpus):
    corpus = corpus[:6]
    p = _certcheck(*[path for path, _, _ in corpus])
    lines = p.stdout.splitlines()
    assert len(lines) == len(corpus) and p.stderr == ""  # not a terminal: no progress display
    assert all(line.split()[0] in ("REJECTED", "MALFORMED", "REFUSED") and len(line) < MAX_REASON + 200
               for line in lines)


def test_budget_flags_refuse_and_raise(capsys):
    cert = os.path.join(ROOT, "certificates", "max4-v64-s123.cubic-separate.cert")
    code, out, _ = certcheck_main(capsys, "--max-work", "1e5", cert)
    assert code == 2 and out.startswith("REFUSED") and "--max-work" in out
    code, out, _ = certcheck_main(capsys, "--max-memory", "64M", cert)
    assert code == 2 and "--max-memory" in out and "MiB" in out
    code, out, _ = certcheck_main(capsys, "--max-work", "1e12", "--max-memory", "8G", cert)
    assert code == 0 and out.startswith("ACCEPTED")
    code, out, err = certcheck_main(capsys, "--max-memory", "lots", cert)
    assert code == 2 and "Traceback" not in err


def test_sizes_and_counts_parse():
    assert parse_size("4G") == 4 << 30 and parse_size("512MiB") == 512 << 20 and parse_size("1000") == 1000
    assert parse_work("1e11") == 10 ** 11
    for bad in ("", "-1", "G", "4X"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_every_schema_has_an_estimate():
    import importlib

    cfg = ModelConfig(8, 4, 4, 3)
    for name, version in schema_registry():
        module = importlib.import_module(schema_registry()[(name, version)].__module__)
        work, memory = module.estimate(cfg, {})
        assert work > 0 and memory > 0, name


def test_shipped_certificates_fit_the_default_budget():
    files = sorted(glob.glob(os.path.join(ROOT, "certificates", "*.cert")))
    assert files
    for path in files:
        cert = read_certificate(path, Budget())
        work, memory = schema_estimate(cert.schema, cert.schema_version, cert.config, cert.witness)
        assert work <= DEFAULT_MAX_WORK and memory <= DEFAULT_MAX_MEMORY, path


def test_estimates_bound_the_proof_length():
    """The work estimate is at least the proof length that the check reports (it adds interpreter steps)."""
    cfg = ModelConfig(6, 4, 4, 3)
    params = random_params(cfg, 3, scale=1.0, bias_scale=0.5)
    for schema, version, witness in (("brute-force", 1, {}), ("cubic", 1, {"direct_path": "per-output"}),
                                     ("cubic", 1, {"direct_path": "separate"}),
                                     ("cubic", 1, {"direct_path": "top-outputs", "top_outputs": 2})):
        cert = Certificate(1, schema, version, cfg, weights_sha256(cfg, params), params, witness, Fraction(0), {})
        v = check_certificate(cert, budget=Budget())
        assert v.verdict == "accepted", v.reason
        assert schema_estimate(schema, version, cfg, witness)[0] >= v.result.proof_length
    for name, top in (("max4-v64-s123.subcubic.cert", None), ("max4-v64-s123.subcubic-lowrank.cert", None),
                      ("max4-v64-s123.subcubic-lowrank.cert", 5)):
        cert = read_certificate(os.path.join(ROOT, "certificates", name))
        if top is not None:
            cert.witness["top_outputs"] = top
        v = check_certificate(cert, budget=Budget())
        assert v.verdict == "accepted", v.reason
        assert schema_estimate(cert.schema, cert.schema_version, cert.config, cert.witness)[0] >= v.result.proof_length


def test_exact_path_work_is_charged_before_it_is_done():
    """All inputs of this model go to the exact path: refused by the meter under a small budget; under a large one
    the streamed exact path gives the exhaustive accuracy."""
    cfg = ModelConfig(2, 1, 1, 6)
    params = _underflow_params(cfg)
    cert = Certificate(1, "brute-force", 1, cfg, weights_sha256(cfg, params), params, {}, Fraction(0), {})
    work = schema_estimate("brute-force", 1, cfg, {})[0]
    v = check_certificate(cert, budget=Budget(max_work=work + 10))
    assert v.verdict == "refused" and "exact path" in v.reason
    v = check_certificate(cert, budget=Budget())
    assert v.verdict == "accepted" and v.result.details["exact_path"] == 2 ** 6
    assert v.bound == exhaustive_accuracy(params)


def test_model_option_checks_the_weight_hash(tmp_path, capsys):
    cert = os.path.join(ROOT, "certificates", "max4-v64-s123.cubic-separate.cert")
    code, out, err = certcheck_main(capsys, "--model", os.path.join(ROOT, "models", "max4-v64-s123.safetensors"), cert)
    assert code == 0, out + err
    code, out, _ = certcheck_main(capsys, "--model", os.path.join(ROOT, "models", "max4-v64-s50.safetensors"), cert)
    assert code == 1 and "not the given model" in out
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\xff" * 100)
    code, out, err = certcheck_main(capsys, "--model", str(bad), cert)
    assert code == 2 and "safetensors" in err


def test_model_option_does_not_need_torch():
    src = open(os.path.join(ROOT, "checker", "model.py")).read()
    assert "torch" not in src and "generator" not in src


# --- the parser: the grammar's language, linear time ---------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _lark():
    from lark import Lark

    with open(os.path.join(ROOT, "checker", "certificate.lark")) as f:
        return Lark(f.read(), parser="lalr")


@pytest.fixture(scope="module")
def tiny_text():
    from generator.certwriter import format_certificate

    cfg = ModelConfig(3, 2, 2, 2)
    params = random_params(cfg, 5, scale=1.0, bias_scale=0.5)
    witness = {"direct_path": "joint", "gaps": [[0, 1], [2, 0]], "r": Fraction(-3, 7), "s": "x"}
    return format_certificate(Certificate(1, "cubic", 1, cfg, weights_sha256(cfg, params), params, witness,
                                          Fraction(1, 3), {"note": "n"}))


PIECES = ["0", "-1", "1/2", "0/0", "[", "]", "{", "}", "0x1p+0", "0x1.8p-1", "-0x0p+0", "0x1.80p+0", "0x0p-0",
          '"s"', "#c\n", " ", "\n", "\x0b", "tensor", "claim", "meta", "witness", "model", "x", "a_b", "1-2", "9" * 30]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_parser_accepts_what_the_grammar_accepts(tiny_text, data):
    """Random edits of a valid certificate: the hand-written parser accepts exactly the texts that the grammar
    (lark) accepts and that are well-formed, and never raises anything but MalformedCertificate."""
    text = tiny_text
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 12)))
        text = text[:i] + data.draw(st.sampled_from(PIECES + [""])) + text[j:]
    try:
        _lark().parse(text)
        grammatical = True
    except Exception:
        grammatical = False
    try:
        parse_certificate(text)
        parsed = True
    except MalformedCertificate as exc:
        parsed = False
        assert len(str(exc)) <= MAX_REASON
    assert not parsed or grammatical  # nothing outside the grammar's language is accepted
    if grammatical and not parsed:  # only well-formedness checks beyond the grammar may refuse
        with pytest.raises(MalformedCertificate) as info:
            parse_certificate(text)
        assert "syntax error" not in str(info.value), str(info.value)


@settings(max_examples=150, deadline=None)
@given(bits=st.integers(0, 2 ** 32 - 1), digits=st.integers(0, 6), exp=st.integers(-160, 160),
       sign=st.booleans(), trailing=st.booleans())
def test_fast_float_path_agrees_with_the_canonical_check(bits, digits, exp, sign, trailing):
    """A tensor body read by the chunked fast path gives what the token-by-token canonical check gives."""
    value = np.frombuffer(np.uint32(bits).tobytes(), dtype=np.float32)[0]
    texts = [hexfloat32(float(value))] if np.isfinite(value) else []
    frac = format(bits & 0xFFFFFF, "06x")[:digits].rstrip("0") if digits else ""
    frac += "0" if trailing and frac else ""
    texts.append(f"{'-' if sign else ''}0x1{'.' + frac if frac else ''}p{exp:+d}")
    for text in texts:
        try:
            want = np.float32(_parse_hexfloat32(text))
        except MalformedCertificate:
            want = None
        cfg = ModelConfig(1, 1, 1, 1)
        params = {name: np.zeros(shape, np.float32) for name, shape in cfg.shapes().items()}
        from generator.certwriter import format_certificate

        doc = format_certificate(Certificate(1, "brute-force", 1, cfg, "0" * 64, params, {}, Fraction(0), {}))
        doc = doc.replace('"embed.W_E" [1 1] {\n    0x0p+0', f'"embed.W_E" [1 1] {{\n    {text}', 1)
        assert text in doc
        try:
            got = parse_certificate(doc).params["embed.W_E"][0, 0]
        except MalformedCertificate:
            got = None
        assert (got is None) == (want is None), text
        if got is not None:
            assert got == want and np.signbit(got) == np.signbit(want), text


def test_parser_time_is_linear(tiny_text):
    head, _, rest = tiny_text.partition("witness {")
    times = []
    for n in (1 << 17, 1 << 19):
        text = head + "witness {\n  v [" + " 7" * n + "]\n" + rest
        start = time.perf_counter()
        with pytest.raises(MalformedCertificate, match="scalars"):
            parse_certificate(text)
        times.append(time.perf_counter() - start)
    assert times[1] < 2.0  # lark takes minutes on the like of this (benchmarks/bench_parser.py)


def test_shapes_checked_before_arrays_are_built():
    cfg = ModelConfig(4, 2, 2, 3)
    params = random_params(cfg, 0)
    from generator.certwriter import format_certificate

    text = format_certificate(Certificate(1, "brute-force", 1, cfg, weights_sha256(cfg, params), params, {},
                                          Fraction(0), {}))
    for old, new, word in (('"embed.W_E" [4 2]', '"embed.W_E" [4 2 1 1]', "dimensions"),
                           ('"embed.W_E" [4 2]', '"embed.W_E" [40000000 2]', "shape"),
                           ('"embed.W_E" [4 2]', '"embed.W_X" [4 2]', "unexpected")):
        with pytest.raises(MalformedCertificate, match=word):
            parse_certificate(text.replace(old, new))


def test_over_budget_model_is_refused_before_its_weights_are_read():
    text = ("compact-proofs-certificate 1\nschema \"cubic\" 1\nmodel {\n task \"max-of-k\"\n d_vocab 60000\n"
            " d_model 60000\n d_head 1\n n_ctx 2\n sha256 \"0\"\n tensor \"embed.W_E\" [60000 60000] {")
    with pytest.raises(OverBudget, match="--max-work"):
        parse_certificate(text, Budget())


def test_resource_errors_become_refusals(monkeypatch, tmp_path):
    import checker.verify as verify

    path = os.path.join(ROOT, "certificates", "max4-v64-s123.cubic-separate.cert")
    for error in (MemoryError, RecursionError):
        def boom(*args, **kwargs):
            raise error()
        monkeypatch.setattr(verify, "build_tables", boom)
        v = check_file(path, budget=Budget())
        assert v.verdict == "refused" and v.reason


# --- the generator's guards -----------------------------------------------------------------------------------

def _model_file(tmp_path, V, K):
    from generator.modelio import save_model

    cfg = ModelConfig(V, 32, 32, K)
    path = str(tmp_path / f"m{V}-{K}.safetensors")
    save_model(path, cfg, {n: v * np.float32(0.1) for n, v in random_params(cfg, 0).items()})
    return path


def _certify(*args):
    return subprocess.run([sys.executable, "-m", "generator", *args], capture_output=True, text=True,
                          timeout=TIME_LIMIT_S * 2, cwd=ROOT, preexec_fn=_limits)


def test_generate_brute_force_on_a_large_model_refuses_up_front(tmp_path):
    pytest.importorskip("torch", reason="certify needs the generator extra (torch)")
    start = time.perf_counter()
    p = _certify("generate", _model_file(tmp_path, 512, 20), "--strategy", "brute-force", "-o", str(tmp_path / "x"))
    assert p.returncode == 2 and "over budget" in p.stderr and "--max-work" in p.stderr and "e+58" in p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert time.perf_counter() - start < 30 and not (tmp_path / "x").exists()


def test_eval_on_a_large_vocabulary_samples_within_the_memory_budget(tmp_path):
    pytest.importorskip("torch", reason="certify needs the generator extra (torch)")
    model = _model_file(tmp_path, 4096, 8)
    p = _certify("eval", model, "--samples", "1000", "--json")
    assert p.returncode == 0, p.stderr[-500:]
    assert json.loads(p.stdout)["method"] == "sampled"
    p = _certify("eval", model, "--samples", "10000000000")
    assert p.returncode == 2 and "--max-work" in p.stderr and "Traceback" not in p.stderr


def test_export_of_a_large_brute_force_certificate_refuses_up_front(tmp_path):
    pytest.importorskip("torch", reason="certify needs the generator extra (torch)")
    cert = os.path.join(ROOT, "certificates", "max4-v64-s123.brute-force.cert")
    p = _certify("export-coq", cert, "-o", str(tmp_path / "x.v"))
    assert p.returncode == 2 and "over budget" in p.stderr and not (tmp_path / "x.v").exists()


def test_default_strategy_is_auto_and_names_its_variant(tmp_path):
    pytest.importorskip("torch", reason="certify needs the generator extra (torch)")
    from generator.cli import build_parser

    args = build_parser().parse_args(["generate", "m.safetensors", "-o", "x.cert"])
    assert args.strategy == "auto"
    model = os.path.join(ROOT, "models", "max4-v64-s123.safetensors")
    p = _certify("generate", model, "--quiet", "--max-work", "5e7", "-o", str(tmp_path / "a.cert"))
    assert p.returncode == 0, p.stderr[-500:]
    assert "wrote" in p.stdout and ("subcubic (" in p.stdout or "cubic (" in p.stdout)
    v = check_file(str(tmp_path / "a.cert"), budget=Budget(max_work=5 * 10 ** 7))
    assert v.verdict == "accepted"


def test_progress_on_a_terminal_only_and_quiet_silences_it(capsys, monkeypatch):
    cert = os.path.join(ROOT, "certificates", "max4-v64-s123.cubic-separate.cert")
    code, out, err = certcheck_main(capsys, cert)
    assert code == 0 and err == ""  # not a terminal: quiet
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, err = certcheck_main(capsys, cert)
    assert code == 0 and "certcheck " in err and "/64" in err and out.startswith("ACCEPTED")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, out, err = certcheck_main(capsys, "-q", cert)
    assert code == 0 and err == ""


def test_empty_rows_and_many_fields_are_bounded(tmp_path):
    """Empty matrix rows count against the witness limit, model/meta fields are capped, dimensions are integers
    (from an independent review: these grew memory faster than the file)."""
    import re

    from checker.certificate import MAX_FIELDS, MalformedCertificate, parse_certificate

    text = open(os.path.join(ROOT, "certificates", "max4-v64-s123.cubic-separate.cert"), encoding="utf-8").read()
    rows = text.replace("witness {", "witness {\n  padding [" + "[]" * (1 << 22) + "]", 1)
    with pytest.raises(MalformedCertificate, match="scalars"):
        parse_certificate(rows)
    fields = text.replace("model {", "model {\n" + "".join(f"  extra{i} 1\n" for i in range(MAX_FIELDS + 1)), 1)
    with pytest.raises(MalformedCertificate, match="more than 64 fields"):
        parse_certificate(fields)
    meta_at = text.index("meta {") + len("meta {")
    meta = text[:meta_at] + "".join(f'\n  extra{i} "x"' for i in range(MAX_FIELDS + 1)) + text[meta_at:]
    with pytest.raises(MalformedCertificate, match="more than 64 fields"):
        parse_certificate(meta)
    string_dim = re.sub(r"d_vocab (\d+)", r'd_vocab "\1"', text, count=1)
    with pytest.raises(MalformedCertificate, match="wrong type"):
        parse_certificate(string_dim)
