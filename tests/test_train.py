"""Training is bit-reproducible: run again, inside a stack of seeds, and for the shipped models from a fresh
clone."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from checker.model import ModelConfig, weights_sha256

pytest.importorskip("torch")


def test_training_is_reproducible_and_records_its_arithmetic():
    from generator.train import PORTABLE, TrainConfig, train

    cfg = ModelConfig(d_vocab=8, d_model=16, d_head=8, n_ctx=3)
    one, meta = train(cfg, TrainConfig(seed=7, steps=60), progress=False)
    again, _ = train(cfg, TrainConfig(seed=7, steps=60), progress=False)
    assert all(np.array_equal(one[n], again[n]) for n in one)
    other, _ = train(cfg, TrainConfig(seed=8, steps=60), progress=False)
    assert not np.array_equal(one["embed.W_E"], other["embed.W_E"])  # the seed matters
    import torch
    assert meta["torch_version"] == torch.__version__ and meta["train_device"] == "cpu"
    assert meta["train_arithmetic"] == PORTABLE


def _offered_capabilities() -> list[str]:
    """The ATEN_CPU_CAPABILITY values this machine can run: the baseline and each level up to its best."""
    best = subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
                          check=True, capture_output=True, text=True, env={**os.environ, "ATEN_CPU_CAPABILITY": ""}
                          ).stdout.strip().upper()
    levels = ["default", "avx2", "avx512"]
    top = {"AVX2": 1, "AVX512": 2}.get(best, 0)
    return levels[:top + 1]


def test_certify_train_gives_one_hash_under_every_cpu_capability_and_thread_setting(root, tmp_path):
    """The user's ATEN_CPU_CAPABILITY, MKL_CBWR and thread settings do not reach training's arithmetic: every
    capability this machine offers, with MKL's own dispatch and two threads, gives the same weights. (Without the
    portable arithmetic this small model's weights differ between `default` and `avx2`, and with MKL_CBWR.)"""
    from generator.modelio import load_model

    settings = [{"ATEN_CPU_CAPABILITY": cap} for cap in _offered_capabilities()]
    settings += [{"MKL_CBWR": "AUTO", "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"},
                 {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "AUTO", "GLIBC_TUNABLES": "glibc.malloc.check=0"}]
    hashes = {}
    for i, setting in enumerate(settings):
        out = str(tmp_path / f"m{i}.safetensors")
        subprocess.run([sys.executable, "-m", "generator.cli", "train", "--k", "3", "--d-vocab", "8", "--d-model",
                        "16", "--d-head", "16", "--steps", "100", "--seed", "7", "--quiet", "-o", out],
                       check=True, cwd=root, capture_output=True, env={**os.environ, **setting})
        cfg, params, meta = load_model(out)
        assert meta["train_arithmetic"] == "portable-cpu"
        hashes[json.dumps(setting)] = weights_sha256(cfg, params)
    assert len(set(hashes.values())) == 1, hashes


def test_portable_training_refuses_a_process_that_started_with_other_kernels(monkeypatch):
    """In the child (marked), training checks that torch really runs its baseline kernels, rather than train with
    whatever the process has."""
    import torch

    from generator import train as train_module

    monkeypatch.setenv(train_module._CHILD_MARK, "1")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    with pytest.raises(RuntimeError, match="ATEN_CPU_CAPABILITY=default"):
        train_module.train(ModelConfig(d_vocab=4, d_model=4, d_head=4, n_ctx=2), train_module.TrainConfig(steps=1),
                           device="cpu", progress=False)


def test_a_model_trained_in_a_stack_has_the_bits_of_one_trained_alone():
    from generator.train import TrainConfig, train, train_many

    cfg = ModelConfig(d_vocab=8, d_model=16, d_head=8, n_ctx=3)
    seeds = (5, 3, 11)
    stacked = train_many(cfg, [TrainConfig(seed=s, steps=120) for s in seeds], progress=False)
    for seed, (params, meta) in zip(seeds, stacked):
        alone, alone_meta = train(cfg, TrainConfig(seed=seed, steps=120), progress=False)
        assert all(np.array_equal(params[n], alone[n]) for n in alone), seed
        assert meta["final_loss"] == alone_meta["final_loss"] and meta["seed"] == str(seed)
        assert (meta["train_stack"], alone_meta["train_stack"]) == ("3", "1")
    assert not np.array_equal(stacked[0][0]["embed.W_E"], stacked[1][0]["embed.W_E"])
    with pytest.raises(ValueError, match="only in seed"):
        train_many(cfg, [TrainConfig(seed=1, steps=10), TrainConfig(seed=2, steps=11)], progress=False)


def test_certify_train_reproduces_the_shipped_model(root, tmp_path):
    """The README's first usage line gives back models/max4-v64-s123.safetensors, weight for weight."""
    from generator.modelio import load_model

    out = str(tmp_path / "m.safetensors")
    subprocess.run([sys.executable, "-m", "generator.cli", "train", "--k", "4", "--d-vocab", "64", "--seed", "123",
                    "--quiet", "-o", out], check=True, cwd=root, capture_output=True)
    shipped_cfg, shipped, _ = load_model(os.path.join(root, "models", "max4-v64-s123.safetensors"))
    cfg, params, meta = load_model(out)
    assert cfg == shipped_cfg
    assert weights_sha256(cfg, params) == weights_sha256(shipped_cfg, shipped)


@pytest.mark.parametrize("argv,message", [
    (["--d-vocab", "1"], "--d-vocab must be at least 2"),
    (["--lr", "nan"], "--lr must be a positive number"),
    (["-o", "{tmp}/a-file/m.safetensors"], "cannot write there"),
    (["-o", "{tmp}/dir.safetensors"], "is a folder"),
])
def test_certify_train_refuses_bad_options_before_training(tmp_path, capsys, argv, message):
    """One line and exit 2, before any training (no model written, no "wrote" line)."""
    from generator.cli import main

    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "dir.safetensors").mkdir()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "-o" not in argv:
        argv += ["-o", str(tmp_path / "m.safetensors")]
    assert main(["train", "--steps", "1", "-q", *argv]) == 2
    out, err = capsys.readouterr()
    assert message in err and len(err.strip().splitlines()) == 1 and "wrote" not in out
    assert not (tmp_path / "m.safetensors").exists()


def test_every_shipped_model_records_the_portable_arithmetic_and_its_training(root):
    """Each shipped model says how to reproduce it: its training options and the portable CPU arithmetic, which
    `certify train` gives on any x86-64 CPU (benchmarks/train_all.sh lists the commands)."""
    import glob

    from generator.modelio import load_model
    from generator.train import PORTABLE, TrainConfig

    paths = sorted(glob.glob(os.path.join(root, "models", "*.safetensors")))
    assert len(paths) >= 9
    for path in paths:
        cfg, _, meta = load_model(path)
        assert meta["train_arithmetic"] == PORTABLE, path
        training = TrainConfig(**json.loads(meta["training"]))
        assert os.path.basename(path) == f"max{cfg.n_ctx}-v{cfg.d_vocab}-s{training.seed}.safetensors"
        assert training == TrainConfig(seed=training.seed)  # the defaults of `certify train`
