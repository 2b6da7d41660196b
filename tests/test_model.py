"""Foundation: the torch model matches DESIGN.md's formula; training works; model files round-trip or are refused."""

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the generator extra (torch) is not installed")

from conftest import random_params  # noqa: E402
from reference import forward_float64  # noqa: E402

from checker.model import ModelConfig  # noqa: E402
from generator.model import AttnOnlyTransformer  # noqa: E402
from generator.modelio import ModelFileError, load_model, save_model  # noqa: E402


def test_torch_forward_matches_numpy_reference():
    cfg = ModelConfig(d_vocab=7, d_model=6, d_head=5, n_ctx=4)
    params = random_params(cfg, seed=3, scale=0.7, bias_scale=0.5)
    assert all(np.any(params[n] != 0) for n in params if ".b_" in n)
    model = AttnOnlyTransformer.from_numpy(cfg, params).double()
    tokens = np.random.default_rng(0).integers(0, 7, size=(200, 4))
    got = model(torch.from_numpy(tokens)).detach().numpy()
    want = forward_float64(params, tokens)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_state_dict_names_and_shapes_are_transformerlens():
    cfg = ModelConfig(d_vocab=64, d_model=32, d_head=32, n_ctx=4)
    sd = AttnOnlyTransformer(cfg).state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == cfg.shapes()
    assert not AttnOnlyTransformer(cfg).blocks[0].attn.b_Q.requires_grad


def test_training_small_model_reaches_high_accuracy():
    from generator.evaluate import float_accuracy
    from generator.train import TrainConfig, train

    cfg = ModelConfig(d_vocab=8, d_model=32, d_head=32, n_ctx=3)
    params, meta = train(cfg, TrainConfig(seed=0, steps=400), progress=False)
    result = float_accuracy(cfg, params, progress=False)
    assert result["method"] == "exhaustive" and result["total"] == 512
    assert result["accuracy"] >= 0.95
    assert all(np.all(params[n] == 0) for n in params if ".b_" in n)  # biases stay zero and frozen
    again, _ = train(cfg, TrainConfig(seed=0, steps=400), progress=False)
    assert all(np.array_equal(params[n], again[n]) for n in params)  # deterministic per seed


def test_save_load_round_trip(tmp_path):
    cfg = ModelConfig(d_vocab=5, d_model=4, d_head=3, n_ctx=3)
    params = random_params(cfg, seed=1, bias_scale=0.1)
    path = str(tmp_path / "m.safetensors")
    save_model(path, cfg, params, {"seed": "1"})
    cfg2, params2, meta = load_model(path)
    assert cfg2 == cfg and meta["seed"] == "1"
    assert all(np.array_equal(params[n], params2[n]) for n in params)


def test_plain_state_dict_without_metadata_loads(tmp_path):
    from safetensors.numpy import save_file

    cfg = ModelConfig(d_vocab=6, d_model=4, d_head=2, n_ctx=3)
    params = random_params(cfg, seed=2)
    path = str(tmp_path / "plain.safetensors")
    save_file(params, path)
    cfg2, params2, _ = load_model(path)
    assert cfg2 == cfg


def _bad_files(tmp_path):
    from safetensors.numpy import save_file

    cfg = ModelConfig(d_vocab=6, d_model=4, d_head=2, n_ctx=3)
    good = random_params(cfg, seed=2)
    cases = {}
    missing = dict(good)
    del missing["unembed.W_U"]
    cases["missing"] = missing
    cases["misshapen"] = {**good, "unembed.W_U": np.zeros((4, 5), np.float32)}
    cases["dtype"] = {**good, "unembed.b_U": np.full(6, 0.1, np.float64)}  # not float32 values: refused
    cases["int"] = {**good, "unembed.b_U": np.zeros(6, np.int32)}
    cases["nan"] = {**good, "embed.W_E": np.full((6, 4), np.nan, np.float32)}
    cases["inf"] = {**good, "embed.W_E": np.full((6, 4), np.inf, np.float32)}
    paths = {}
    for name, params in cases.items():
        paths[name] = str(tmp_path / f"{name}.safetensors")
        save_file(params, paths[name])
    paths["not_safetensors"] = str(tmp_path / "junk.safetensors")
    with open(paths["not_safetensors"], "wb") as f:
        f.write(b"this is not a model\n" * 10)
    full = str(tmp_path / "full.safetensors")
    save_file(good, full)
    data = open(full, "rb").read()
    paths["truncated"] = str(tmp_path / "truncated.safetensors")
    with open(paths["truncated"], "wb") as f:
        f.write(data[: len(data) // 2])
    paths["absent"] = str(tmp_path / "absent.safetensors")
    return paths


def test_bad_model_files_are_refused(tmp_path):
    for name, path in _bad_files(tmp_path).items():
        with pytest.raises(ModelFileError):
            load_model(path)


def test_bad_model_file_cli_exit_code_2(tmp_path):
    for name, path in _bad_files(tmp_path).items():
        proc = subprocess.run([sys.executable, "-m", "generator", "eval", path], capture_output=True, text=True)
        assert proc.returncode == 2, (name, proc.stderr)
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, (name, proc.stderr)


def test_shipped_models_exist_and_load(root):
    expected = [f"max4-v64-s{s}" for s in (123, 50, 104, 519, 742)] + [
        "max5-v64-s123", "max10-v64-s123", "max10-v128-s123", "max20-v64-s123"]
    for name in expected:
        cfg, params, meta = load_model(os.path.join(root, "models", name + ".safetensors"))
        assert cfg.d_model == 32 and cfg.d_head == 32 and "training" in meta


@pytest.mark.parametrize("device, message", [
    ("foo", "not a torch device"),
    ("meta", "certify runs on cpu, cuda or mps"),
    ("cuda:99", "CUDA"),  # no CUDA in this build, none visible, or fewer than 100 devices: each says so
])
def test_pick_device_refuses_unusable_devices_with_a_reason(device, message):
    from generator.model import pick_device

    with pytest.raises(ValueError, match=message):
        pick_device(device)


@pytest.mark.skipif(torch.version.cuda is not None, reason="this torch build has CUDA")
def test_pick_device_cuda_on_a_cpu_build_says_so():
    from generator.model import pick_device

    with pytest.raises(ValueError, match=r"this torch build \(.*\) has no CUDA support; use --device cpu"):
        pick_device("cuda")
