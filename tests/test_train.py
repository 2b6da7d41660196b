"""Training is bit-reproducible: run again, inside a stack of seeds, and for the shipped models from a fresh
clone."""

import os
import subprocess
import sys

import numpy as np
import pytest

from checker.model import ModelConfig, weights_sha256

pytest.importorskip("torch")


def test_training_is_reproducible_and_records_its_threads():
    from generator.train import TrainConfig, train

    cfg = ModelConfig(d_vocab=8, d_model=16, d_head=8, n_ctx=3)
    one, meta = train(cfg, TrainConfig(seed=7, steps=60), progress=False, threads=1)
    again, _ = train(cfg, TrainConfig(seed=7, steps=60), progress=False, threads=1)
    _, meta2 = train(cfg, TrainConfig(seed=7, steps=60), progress=False, threads=2)
    assert all(np.array_equal(one[n], again[n]) for n in one)
    other, _ = train(cfg, TrainConfig(seed=8, steps=60), progress=False, threads=1)
    assert not np.array_equal(one["embed.W_E"], other["embed.W_E"])  # the seed matters
    import torch
    assert meta["torch_version"] == torch.__version__ and meta["train_device"] == "cpu"
    assert (meta["train_threads"], meta2["train_threads"]) == ("1", "2")  # it can matter: it is recorded


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
                    "--quiet", "--threads", "2", "-o", out], check=True, cwd=root, capture_output=True)
    shipped_cfg, shipped, _ = load_model(os.path.join(root, "models", "max4-v64-s123.safetensors"))
    cfg, params, meta = load_model(out)
    assert cfg == shipped_cfg
    assert weights_sha256(cfg, params) == weights_sha256(shipped_cfg, shipped)
