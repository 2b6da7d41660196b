"""certify's command line: bad input gets a one-line error and exit code 2, never a traceback."""

import json
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
    ["generate", MODEL, "--strategy", "subcubic", "--option", "top_outputs=-1", "-o", "{tmp}/a.cert"],
    ["generate", MODEL, "--strategy", "subcubic", "--option", "near_max=drop", "--option", "top_outputs=1",
     "-o", "{tmp}/a.cert"],
    ["generate", MODEL, "--strategy", "cubic", "--option", "direct_path=top-outputs", "--option", "top_outputs=x",
     "-o", "{tmp}/a.cert"],
    ["generate", MODEL, "--strategy", "cubic", "--option", "top_outputs=2", "-o", "{tmp}/a.cert"],  # joint
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


def _certify(*argv, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "generator", *argv], capture_output=True, text=True, cwd=cwd)


@pytest.fixture
def tiny_model(tmp_path):
    from conftest import random_params

    from checker.model import ModelConfig
    from generator.modelio import save_model

    cfg = ModelConfig(d_vocab=5, d_model=4, d_head=4, n_ctx=3)
    path = str(tmp_path / "tiny.safetensors")
    save_model(path, cfg, random_params(cfg, 1))
    return path


def test_eval_samples_is_warned_about_when_every_input_is_evaluated(tiny_model):
    p = _certify("eval", tiny_model, "--samples", "7", "--json")
    assert p.returncode == 0, p.stderr
    assert "--samples 7 ignored: all 125 inputs are evaluated exactly" in p.stderr
    result = json.loads(p.stdout)
    assert result["method"] == "exhaustive" and result["total"] == 125


def test_eval_samples_is_honoured_when_sampling(tmp_path):
    from conftest import random_params

    from checker.model import ModelConfig
    from generator.modelio import save_model

    cfg = ModelConfig(d_vocab=64, d_model=4, d_head=4, n_ctx=5)  # 64^5 > 2^25 inputs
    path = str(tmp_path / "wide.safetensors")
    save_model(path, cfg, random_params(cfg, 2))
    p = _certify("eval", path, "--samples", "300", "--json")
    assert p.returncode == 0 and "ignored" not in p.stderr, p.stderr
    assert json.loads(p.stdout)["samples"] == 300


@pytest.mark.parametrize("argv", [
    ["train", "-o", "m.safetensors"], ["eval", "m.safetensors"], ["generate", "m.safetensors", "-o", "a.cert"],
    ["report"], ["export-coq", "a.cert", "-o", "a.v"], ["export-lean", "a.cert", "-o", "a.lean"],
])
@pytest.mark.parametrize("flag", ["-q", "--quiet"])
def test_every_subcommand_takes_quiet(argv, flag):
    from generator.cli import build_parser

    assert build_parser().parse_args([*argv, flag]).quiet is True


def test_no_progress_bar_when_stderr_is_not_a_terminal(tiny_model):
    p = _certify("eval", tiny_model)
    assert p.returncode == 0 and p.stderr == "", p.stderr  # tqdm would draw on stderr


def test_device_cuda_without_cuda_is_a_clear_error(tiny_model):
    import torch

    device = "cuda" if torch.version.cuda is None else "cuda:99"
    p = _certify("eval", tiny_model, "--device", device)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert f"--device {device}:" in p.stderr and "cpu" in p.stderr


def test_eval_of_a_directory_says_it_is_one(tmp_path):
    p = _certify("eval", str(tmp_path))
    assert p.returncode == 2 and "is a directory" in p.stderr, p.stderr


def test_train_refuses_a_non_safetensors_output_name_before_training(tmp_path):
    out = tmp_path / "model.pt"
    p = _certify("train", "--steps", "100000", "-o", str(out))
    assert p.returncode == 2 and "*.safetensors" in p.stderr, p.stderr
    assert not out.exists()


def _on_a_terminal(argv):
    """Run certify with stderr on a pseudo-terminal; returns (exit code, what it wrote there)."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0 columns wide
    p = subprocess.Popen([sys.executable, "-m", "generator", *argv], stdout=subprocess.DEVNULL, stderr=follower,
                         cwd=ROOT)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return p.wait(), b"".join(chunks).decode(errors="replace")


def test_generate_shows_progress_on_a_terminal_and_quiet_silences_it(tiny_model, tmp_path):
    strategy = "cubic"  # brute force shares the code path
    code, err = _on_a_terminal(["generate", tiny_model, "--strategy", strategy, "-o", str(tmp_path / "a.cert")])
    assert code == 0, err
    assert f"{strategy} (exact check)" in err
    code, err = _on_a_terminal(["generate", tiny_model, "--strategy", strategy, "-q", "-o", str(tmp_path / "b.cert")])
    assert code == 0 and "exact check" not in err, err
