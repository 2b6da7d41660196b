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


STRATEGY_NAMES = ["auto", "brute-force", "cubic", "subcubic", "branch-and-bound"]


def _absent_cuda():
    import torch

    return "cuda" if torch.version.cuda is None else "cuda:99"  # no CUDA in this build, or no such device


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
@pytest.mark.parametrize("device", ["tpu", "cuda-absent"])
def test_generate_refuses_an_unusable_device_whatever_the_strategy(tiny_model, tmp_path, strategy, device):
    device = _absent_cuda() if device == "cuda-absent" else device
    out = tmp_path / "a.cert"
    p = _certify("generate", tiny_model, "--strategy", strategy, "--device", device, "-o", str(out))
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert f"--device {device}:" in p.stderr and not out.exists()


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_build_certificate_checks_the_device_for_every_strategy(strategy):
    """The library entry (the sweep's) checks the device too, before any search."""
    from conftest import random_params

    from checker.model import ModelConfig
    from generator.generate import build_certificate

    cfg = ModelConfig(d_vocab=4, d_model=4, d_head=4, n_ctx=2)
    for device in ("tpu", _absent_cuda()):
        with pytest.raises(ValueError, match=f"--device {device}:"):
            build_certificate(cfg, random_params(cfg, 0), strategy, {}, device=device, progress=False)
    cert, _ = build_certificate(cfg, random_params(cfg, 0), strategy, {}, device="cpu", progress=False)
    assert cert.schema in ("brute-force", "cubic", "subcubic", "branch-and-bound")


@pytest.mark.parametrize("strategy, flags", [
    ("branch-and-bound", ["--option", "budget=nan"]),
    ("branch-and-bound", ["--option", "budget=inf"]),
    ("branch-and-bound", ["--option", "budget=0"]),
    ("branch-and-bound", ["--option", "budget=-3e6"]),
    ("branch-and-bound", ["--option", "budget=lots"]),
    ("branch-and-bound", ["--budget", "nan"]),
    ("auto", ["--budget", "nan"]),
    ("auto", ["--budget", "inf"]),
    ("auto", ["--budget", "0"]),
    ("auto", ["--option", "budget=nan"]),
])
def test_generate_refuses_a_non_finite_or_non_positive_budget(tiny_model, tmp_path, strategy, flags):
    out = tmp_path / "a.cert"
    p = _certify("generate", tiny_model, "--strategy", strategy, *flags, "-o", str(out))
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "budget must be a positive finite number" in p.stderr and not out.exists()


def test_build_certificate_refuses_a_nan_budget_option():
    """`budget=nan` in a library call (a sweep's strategy options) is refused, not read as "no limit"."""
    from conftest import random_params

    from checker.model import ModelConfig
    from generator.generate import build_certificate

    cfg = ModelConfig(d_vocab=4, d_model=4, d_head=4, n_ctx=2)
    for strategy in ("branch-and-bound", "auto"):
        with pytest.raises(ValueError, match="positive finite"):
            build_certificate(cfg, random_params(cfg, 0), strategy, {"budget": "nan"}, progress=False)


@pytest.mark.parametrize("strategy, options", [
    ("cubic", ["--option", "direct_path=top-outputs", "--option", "top_outputs=99"]),
    ("subcubic", ["--option", "direct_path=query-max", "--option", "top_outputs=99"]),
    ("subcubic", ["--option", "top_outputs=99"]),  # the searched variants
])
def test_generate_says_which_top_outputs_it_used(tiny_model, tmp_path, strategy, options):
    """d_vocab 5: at most 3 candidate outputs; the written line names the value used and a warning says why."""
    from checker.certificate import read_certificate

    out = tmp_path / "a.cert"
    p = _certify("generate", tiny_model, "--strategy", strategy, *options, "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert "top_outputs=3" in p.stdout and "top_outputs=99" not in p.stdout, p.stdout
    assert "warning: top_outputs=99 is more than this model's d_vocab - 2 = 3" in p.stderr, p.stderr
    assert read_certificate(str(out)).witness["top_outputs"] == 3


def test_generate_keeps_a_top_outputs_that_fits_without_a_warning(tiny_model, tmp_path):
    p = _certify("generate", tiny_model, "--strategy", "cubic", "--option", "direct_path=top-outputs",
                 "--option", "top_outputs=2", "-o", str(tmp_path / "a.cert"))
    assert p.returncode == 0 and "top_outputs=2" in p.stdout and "warning" not in p.stderr, (p.stdout, p.stderr)


@pytest.mark.parametrize("command", [["generate", MODEL, "-o", "a.cert"], ["eval", MODEL]])
def test_a_bad_size_names_the_accepted_suffixes(command):
    p = _certify(*command, "--max-memory", "4Q")
    assert p.returncode == 2, p.stderr
    assert "invalid parse_size value" not in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert "--max-memory: not a size: '4Q'" in p.stderr and "K, M, G or T" in p.stderr, p.stderr


def test_the_missing_extra_hint_names_an_install_that_works():
    """No package index serves compact-proofs: the hint is the install from a checkout."""
    from generator.cli import _extra_message

    message = _extra_message("generate", ["torch"])
    assert "pip install '.[generator]'" in message and "compact-proofs[" not in message, message
