"""certify's command line: bad input gets a one-line error and exit code 2, never a traceback."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT

pytest.importorskip("torch", reason="certify needs the generator extra (torch)")

MODEL = os.path.join(ROOT, "models", "max4-v64-s123.safetensors")


@pytest.mark.parametrize("args", [
    ["generate", MODEL, "--strategy", "cubic", "--option", "direct_path=optimistic", "-o", "{tmp}/a.cert"],
    ["generate", MODEL, "--strategy", "cubic", "--option", "noequals", "-o", "{tmp}/a.cert"],
    ["generate", MODEL, "--strategy", "subcubic", "--option", "near_max=guess", "-o", "{tmp}/a.cert"],
    ["generate", MODEL, "--strategy", "subcubic", "--option", "rank=abc", "-o", "{tmp}/a.cert"],
    ["generate", MODEL, "--strategy", "subcubic", "--option", "rank=0", "-o", "{tmp}/a.cert"],
    ["generate", MODEL, "--strategy", "subcubic", "--option", "rank=33", "-o", "{tmp}/a.cert"],  # > d_head
    ["generate", MODEL, "--strategy", "subcubic", "--option", "attention=exact", "--option", "rank=1",
     "-o", "{tmp}/a.cert"],
    ["generate", MODEL, "--strategy", "subcubic", "--option", "attention_error=none", "-o", "{tmp}/a.cert"],
    ["generate", MODEL, "--strategy", "subcubic", "--option", "gap=3", "-o", "{tmp}/a.cert"],
    ["generate", MODEL, "--strategy", "cubic", "--budget", "10", "-o", "{tmp}/a.cert"],
    ["generate", MODEL, "--strategy", "auto", "--budget", "10", "-o", "{tmp}/a.cert"],
    ["generate", MODEL, "--strategy", "cubic", "-o", "{tmp}/no/such/dir/a.cert"],
    ["train", "--k", "0", "-o", "{tmp}/m.safetensors"],
    ["eval", "{tmp}"],
    ["export-coq", "{tmp}/absent.cert", "-o", "{tmp}/x.v"],
])
def test_bad_input_exit_2_one_line(tmp_path, args):
    argv = [a.format(tmp=tmp_path) for a in args]
    p = subprocess.run([sys.executable, "-m", "generator", *argv], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2, (argv, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


@pytest.mark.parametrize("budget", ["5e6", "1.7e6"])
def test_generate_auto_picks_within_budget(tmp_path, budget):
    out = tmp_path / "auto.cert"
    p = subprocess.run([sys.executable, "-m", "generator", "generate", MODEL, "--strategy", "auto", "--budget", budget,
                        "--quiet", "-o", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    from checker.verify import check_file

    v = check_file(str(out))
    assert v.verdict == "accepted" and v.result.proof_length <= float(budget)
    if budget == "1.7e6":  # below every exact-attention variant: only low-rank attention fits
        assert v.result.details["attention"] == "low-rank"
