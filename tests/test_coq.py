"""The Coq library coq/ (Spec.v, brute_force_sound, cubic_sound) and the accuracy_bound exports:
the library builds, an exported theorem compiles with only the standard real-number axioms, tampered copies
fail to compile, and the exporter's count (the Coq check's computation in Python) is sound against exhaustive
evaluation. See docs/formal-export.md."""

from __future__ import annotations

import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import pytest
from conftest import ROOT, certificate, random_params
from reference import exhaustive_accuracy
from small_models import adversarial_models

from checker.certificate import read_certificate
from checker.model import ModelConfig
from generator.certwriter import write_certificate
from generator.export import ExportError, export_file
from generator.export.common import weight_literals
from generator.export.coq_cubic import PRECISIONS as CUBIC_PRECISIONS
from generator.export.coq_cubic import cubic_classes
from generator.export.coq_theorem import PRECISIONS, bf_count, bf_count_of, export_theorem

ROOT_PATH = Path(ROOT)
COQC = shutil.which("coqc")
needs_coq = pytest.mark.skipif(COQC is None or shutil.which("make") is None,
                               reason="coqc (Debian package `coq`) or make not on PATH")
TINY = ModelConfig(d_vocab=5, d_model=4, d_head=4, n_ctx=3)
# the axioms that Coq's real numbers (and Reals' use of functional extensionality) bring; nothing else
STANDARD_AXIOMS = {"ClassicalDedekindReals.sig_forall_dec", "ClassicalDedekindReals.sig_not_dec",
                   "FunctionalExtensionality.functional_extensionality_dep", "Classical_Prop.classic"}


@pytest.fixture(scope="module")
def tiny_bf():
    return certificate(TINY, random_params(TINY, 11, scale=1.0, bias_scale=0.7))


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """coq/ copied and built with its Makefile (make -C coq) in a fresh folder."""
    dest = tmp_path_factory.mktemp("coqlib") / "coq"
    shutil.copytree(f"{ROOT}/coq", dest, ignore=shutil.ignore_patterns("*.vo*", "*.glob", ".*", "Makefile.coq*"))
    proc = subprocess.run(["make", "-C", str(dest)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dest


def coqc(library, path, timeout: int = 600) -> tuple[int, str]:
    proc = subprocess.run([COQC, "-q", "-R", str(library), "CompactProofs", path.name], cwd=path.parent,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def set_claim(text: str, num: int, den: int) -> str:
    out = re.sub(r"claim_num := -?\d+%Z; claim_den := \d+%Z", f"claim_num := {num}%Z; claim_den := {den}%Z", text)
    assert out != text
    return out


def test_library_has_nothing_admitted():
    names = sorted(p.name for p in (ROOT_PATH / "coq").glob("*.v"))
    assert {"Spec.v", "Lib.v", "ExpBounds.v", "BruteForce.v", "Average.v", "Counting.v", "Mixture.v",
            "Cubic.v"} <= set(names)
    for name in names:
        text = open(f"{ROOT}/coq/{name}", encoding="utf-8").read()
        assert not re.search(r"\b(Admitted|admit|Axiom|Parameter|Abort)\b", text), name


@pytest.mark.parametrize("name,cfg,params", adversarial_models(), ids=[m[0] for m in adversarial_models()])
def test_coq_check_count_is_sound(name, cfg, params):
    """The Coq check's count (its computation in Python) never exceeds the exhaustive count of correct inputs."""
    exact = exhaustive_accuracy(params) * cfg.d_vocab ** cfg.n_ctx
    cert = certificate(cfg, params)
    for p, r in (PRECISIONS[0], PRECISIONS[2]):
        assert bf_count(cert, p, r) <= exact, (name, p, r)


def test_coq_check_reaches_checker_on_random_models():
    """On random small models the Coq check proves what the Python checker proves (at the exporter's precision)."""
    for seed in range(4):
        cfg = ModelConfig(d_vocab=4, d_model=3, d_head=2, n_ctx=2)
        cert = certificate(cfg, random_params(cfg, seed, scale=2.0, bias_scale=0.5))
        _, info = export_theorem(cert)
        assert info["count"] == cert.claim * cfg.d_vocab ** cfg.n_ctx


def test_export_refuses_unreachable_claim():
    cert = certificate(TINY, random_params(TINY, 11, scale=1.0, bias_scale=0.7))
    cert.claim = Fraction(cert.claim.numerator * 125 // cert.claim.denominator + 1, 125)
    with pytest.raises(ExportError, match="proves"):
        export_theorem(cert, PRECISIONS[0])


def test_export_refuses_large_models(tmp_path):
    """A shipped Max-of-4/64 brute-force certificate (64^4 inputs) is refused at once by the budget, with the
    estimate, not enumerated."""
    from checker.budget import OverBudget

    out = tmp_path / "big.v"
    with pytest.raises(OverBudget, match=r"over budget: exporting this brute-force certificate .*estimate: export "
                                         r"about .* h on one core"):
        export_file(f"{ROOT}/certificates/max4-v64-s123.brute-force.cert", str(out), "coq")
    assert not out.exists()


def test_coq_caches_are_not_tracked_and_make_rewrites_nothing_tracked():
    """`make -C coq` writes .nia.cache, .lia.cache (micromega's caches): they are git-ignored, none is tracked."""
    if shutil.which("git") is None or not (ROOT_PATH / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(["git", "ls-files", "coq"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [f for f in tracked if f.endswith(".cache")], tracked
    for name in (".nia.cache", ".lia.cache", ".nra.cache", ".lra.cache"):
        p = subprocess.run(["git", "check-ignore", "-q", f"coq/{name}"], cwd=ROOT)
        assert p.returncode == 0, f"coq/{name} is not git-ignored"


CUBIC_LEMMAS = {"Average": ["avg_between", "attn_avg", "linfrac_mono", "linfrac_between", "avg_one_weight",
                            "avg_weight_interval", "wsum_pessimise"],
                "Mixture": ["mixture_negative", "placement_regroup", "placement_le", "placement_threshold",
                            "sum_sign_scale", "exp_factor"],
                "Counting": ["class_count", "class_count_query", "in_class_q_max", "class_disjoint", "binom_sum",
                             "union_count"]}


@needs_coq
def test_cubic_lemmas_rest_on_standard_axioms_only(library, tmp_path):
    """Each lemma of the cubic argument in coq/ is proved from at most the standard real-number axioms."""
    body = "".join(f"From CompactProofs Require Import {mod}.\n" for mod in CUBIC_LEMMAS)
    names = [name for lemmas in CUBIC_LEMMAS.values() for name in lemmas]
    body += "".join(f"Print Assumptions {name}.\n" for name in names)
    (tmp_path / "cubic_lemmas.v").write_text(body)
    rc, out = coqc(library, tmp_path / "cubic_lemmas.v")
    assert rc == 0, out
    blocks = re.split(r"^(?=Axioms:|Closed under the global context)", out, flags=re.M)[1:]
    assert len(blocks) == len(names), out
    for name, block in zip(names, blocks):
        # every line that starts a name is an axiom (a long type goes on to indented lines)
        axioms = set(re.findall(r"^([A-Za-z_][\w.']*)", block.partition("\n")[2], re.M))
        assert axioms <= STANDARD_AXIOMS, (name, block)
    assert out.count("Closed under the global context") == len(CUBIC_LEMMAS["Counting"]), out


@needs_coq
def weight_lowering_count(text: str, cert, lowers) -> str:
    """The exported text with one W_U mantissa scaled so that `lowers(changed weight literals)` holds (the Coq
    check then proves fewer inputs than the file claims)."""
    literals = weight_literals(cert)
    e, rows = literals["w_U"]
    literal = f"W_U := (({e})%Z, [[{rows[0][0]};"
    assert literal in text
    for factor in (-1, 8, -64, 4096):
        changed = [list(row) for row in rows]
        changed[0][0] *= factor
        if lowers({**literals, "w_U": (e, changed)}):
            return text.replace(literal, f"W_U := (({e})%Z, [[{changed[0][0]};")
    raise AssertionError("no single-weight change lowers the count")


def test_accuracy_bound_compiles_and_tampered_copies_fail(library, tiny_bf, tmp_path):
    """certify export-coq writes data + accuracy_bound; it compiles, its Print Assumptions lists only the standard
    axioms of Coq's reals, a raised claim and an altered weight fail to compile, and Coq's own bf_count equals the
    exporter's."""
    cert_path = tmp_path / "tiny.cert"
    write_certificate(str(cert_path), tiny_bf)
    info = export_file(str(cert_path), str(tmp_path / "tiny_bf.v"), "coq")
    text = (tmp_path / "tiny_bf.v").read_text()
    assert "Theorem accuracy_bound : (claim data <= accuracy (model_of data))%R." in text
    assert "Fixpoint" not in text and "Admitted" not in text  # data and one theorem, not the algorithm
    total = TINY.d_vocab ** TINY.n_ctx
    count = info["count"]
    assert count == tiny_bf.claim * total

    files = {"valid": text + "\nPrint Assumptions accuracy_bound.\n"
                             f"Eval vm_compute in bf_count data {info['prec']} {info['squarings']}.\n",
             "raised": set_claim(text, count + 1, total)}
    # one W_U mantissa changed so that the Coq check proves fewer inputs than the claim
    files["weight"] = weight_lowering_count(
        text, tiny_bf, lambda literals: bf_count_of(TINY, literals, info["prec"], info["squarings"]) < count)
    for name, body in files.items():
        (tmp_path / f"{name}.v").write_text(body)
    with ThreadPoolExecutor(3) as pool:
        results = dict(zip(files, pool.map(lambda n: coqc(library, tmp_path / f"{n}.v"), files)))

    rc, out = results["valid"]
    assert rc == 0, out
    # every line of the Axioms block that starts with a name is an axiom (a long type wraps onto indented lines)
    axiom_block = out.split("Axioms:")[1].split("\n     = ")[0]
    axioms = set(re.findall(r"^([A-Za-z_][\w.']*)", axiom_block, re.M))
    assert axioms and axioms <= STANDARD_AXIOMS, out
    assert re.search(rf"= {count}\s*: nat", out), out
    for name in ("raised", "weight"):
        rc, out = results[name]
        assert rc != 0 and ("eq_refl" in out or "accuracy_bound" in out), (name, out)



# ------------------------------------------------------------------------------ cubic_sound (coq/Cubic.v)

SHIPPED_CUBIC = ROOT_PATH / "certificates" / "max4-v64-s123.cubic.cert"


@pytest.fixture(scope="module")
def tiny_cubic():
    """A tiny model on which the Coq cubic check proves some inputs (25 of 125)."""
    return certificate(TINY, random_params(TINY, 3, scale=3.0, bias_scale=0.7), "cubic", {"direct_path": "separate"})


@pytest.mark.parametrize("name,cfg,params", adversarial_models(), ids=[m[0] for m in adversarial_models()])
def test_coq_cubic_count_is_sound(name, cfg, params):
    """The Coq cubic check's count (its computation in Python, coq_cubic.cubic_classes) never exceeds the
    exhaustive count of correct inputs, at both precisions of the exporter."""
    exact = exhaustive_accuracy(params) * cfg.d_vocab ** cfg.n_ctx
    literals = weight_literals(certificate(cfg, params))
    for p, r in CUBIC_PRECISIONS:
        count, hints = cubic_classes(cfg, literals, p, r)
        assert count <= exact, (name, p, r)
        assert len(hints) == cfg.d_vocab and all(len(row) == cfg.d_vocab for row in hints)


def test_coq_cubic_count_random_models():
    """On random small models the count never exceeds the exhaustive one, and it is positive on some."""
    positive = 0
    for seed in range(6):
        params = random_params(TINY, seed, scale=3.0, bias_scale=0.7)
        count, _ = cubic_classes(TINY, weight_literals(certificate(TINY, params)), *CUBIC_PRECISIONS[0])
        assert count <= exhaustive_accuracy(params) * TINY.d_vocab ** TINY.n_ctx, seed
        positive += count > 0
    assert positive >= 3


def _axioms(out: str) -> set[str]:
    block = out.split("Axioms:")[1].split("\n     = ")[0]
    return set(re.findall(r"^([A-Za-z_][\w.']*)", block, re.M))


def _compile_parallel(library, tmp_path, files: dict[str, str], timeout: int = 600) -> dict[str, tuple[int, str]]:
    for name, body in files.items():
        (tmp_path / f"{name}.v").write_text(body)
    with ThreadPoolExecutor(len(files)) as pool:
        return dict(zip(files, pool.map(lambda n: coqc(library, tmp_path / f"{n}.v", timeout), files)))


@needs_coq
def test_cubic_accuracy_bound_tiny_valid_and_tampered(library, tiny_cubic, tmp_path):
    """export-coq of a cubic certificate writes data + hints + accuracy_bound (proved by cubic_sound); it compiles
    with only the standard axioms, Coq's own count equals the exporter's, and a raised claim and an altered weight
    (one that lowers the Coq count, found with the exporter's computation) fail to compile."""
    cert_path = tmp_path / "tiny_cubic.cert"
    write_certificate(str(cert_path), tiny_cubic)
    info = export_file(str(cert_path), str(tmp_path / "tiny_cubic.v"), "coq")
    text = (tmp_path / "tiny_cubic.v").read_text()
    assert "Theorem accuracy_bound : (claim data <= accuracy (model_of data))%R." in text
    assert "apply (cubic_sound data" in text and "Fixpoint" not in text
    total = TINY.d_vocab ** TINY.n_ctx
    count, p, r = info["count"], info["prec"], info["squarings"]
    assert count == 25 and Fraction(info["claim"]) <= Fraction(count, total)
    files = {"valid": text + "\nPrint Assumptions accuracy_bound.\n"
                             f"Eval vm_compute in zcount data (cubic_info data {p} {r} hints).\n",
             "raised": set_claim(text, count + 1, total)}
    files["weight"] = set_claim(weight_lowering_count(
        text, tiny_cubic, lambda literals: cubic_classes(TINY, literals, p, r)[0] < count), count, total)
    if Fraction(info["claim"]) < Fraction(count, total):  # make the valid file claim exactly the count
        files["valid"] = set_claim(files["valid"], count, total)
    results = _compile_parallel(library, tmp_path, files)
    rc, out = results["valid"]
    assert rc == 0, out
    assert _axioms(out) <= STANDARD_AXIOMS, out
    assert re.search(rf"= {count}%Z\s*: Z", out), out
    for name in ("raised", "weight"):
        rc, out = results[name]
        assert rc != 0 and ("eq_refl" in out or "accuracy_bound" in out), (name, out)


@needs_coq
@pytest.mark.skipif(not SHIPPED_CUBIC.exists(), reason="shipped cubic certificate missing")
def test_cubic_accuracy_bound_shipped_max4_v64(library, tmp_path):
    """The shipped Max-of-4/64 cubic certificate: its accuracy_bound export compiles (only the standard axioms)
    and a copy with the claim raised by 1/64^4 fails; the two coqc runs go in parallel."""
    import time

    start = time.perf_counter()
    info = export_file(str(SHIPPED_CUBIC), str(tmp_path / "max4_v64.v"), "coq")
    exported = time.perf_counter() - start
    text = (tmp_path / "max4_v64.v").read_text()
    claim = Fraction(info["claim"])
    # the Coq check is coarser than certcheck: at most the certificate's claim, and far from vacuous
    # (15813950/64^4 = 0.9426, the checker's separate direct path; the certificate's joint claim: 0.9541)
    shipped_claim = read_certificate(str(SHIPPED_CUBIC)).claim
    assert claim.denominator <= 64 ** 4 and Fraction(9, 10) < claim <= shipped_claim, info
    assert f"claim proved here: accuracy >= {claim.numerator}/{claim.denominator}" in text
    num = claim.numerator * (64 ** 4 // claim.denominator)
    files = {"valid": text + "\nPrint Assumptions accuracy_bound.\n",
             "raised": set_claim(text, num + 1, 64 ** 4)}
    start = time.perf_counter()
    results = _compile_parallel(library, tmp_path, files, timeout=1800)  # about 90 s of CPU each
    print(f"export {exported:.1f} s; coqc of the Max-of-4/64 cubic accuracy_bound and its tampered twin "
          f"(in parallel): {time.perf_counter() - start:.1f} s; count {info['count']}/{64 ** 4}")
    rc, out = results["valid"]
    assert rc == 0, out
    assert _axioms(out) <= STANDARD_AXIOMS, out
    rc, out = results["raised"]
    assert rc != 0 and ("eq_refl" in out or "accuracy_bound" in out), out
