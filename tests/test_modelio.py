"""Model files as TransformerLens writes them: known buffers dropped, other dtypes converted when exact
(with a warning) and refused with a reason otherwise; the real transformer-lens package where installed."""

import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, random_params

from checker.model import ModelConfig, weights_sha256
from generator.modelio import ModelConversionWarning, ModelFileError, load_model

CFG = ModelConfig(d_vocab=6, d_model=4, d_head=2, n_ctx=3)


def _save_plain(path, tensors):
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path))


def _with_buffers(params, n_ctx, mask=None):
    out = dict(params)
    out["blocks.0.attn.IGNORE"] = np.array(-1e5, dtype=np.float32)
    out["blocks.0.attn.mask"] = np.tril(np.ones((n_ctx, n_ctx), dtype=bool)) if mask is None else mask
    return out


def test_transformer_lens_buffers_are_ignored(tmp_path):
    params = random_params(CFG, 1, bias_scale=0.2)
    path = tmp_path / "tl.safetensors"
    _save_plain(path, _with_buffers(params, CFG.n_ctx))
    cfg, loaded, _ = load_model(str(path))
    assert cfg == CFG and set(loaded) == set(params)
    assert weights_sha256(cfg, loaded) == weights_sha256(CFG, params)


def test_an_empty_mask_is_transformer_lens_default(tmp_path):
    path = tmp_path / "lazy.safetensors"
    _save_plain(path, _with_buffers(random_params(CFG, 1), CFG.n_ctx, np.zeros((0, 0), dtype=bool)))
    assert load_model(str(path))[0] == CFG


def test_a_mask_that_hides_positions_from_the_last_query_is_refused(tmp_path):
    mask = np.tril(np.ones((CFG.n_ctx, CFG.n_ctx), dtype=bool))
    mask[-1, 0] = False
    path = tmp_path / "masked.safetensors"
    _save_plain(path, _with_buffers(random_params(CFG, 1), CFG.n_ctx, mask))
    with pytest.raises(ModelFileError, match="hides positions from the last query"):
        load_model(str(path))


def test_other_unexpected_tensors_are_refused_with_what_is_allowed(tmp_path):
    tensors = dict(random_params(CFG, 1), **{"blocks.0.ln1.w": np.ones(CFG.d_model, np.float32)})
    path = tmp_path / "ln.safetensors"
    _save_plain(path, tensors)
    with pytest.raises(ModelFileError, match="unexpected tensor blocks.0.ln1.w: .*without LayerNorm"):
        load_model(str(path))


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_exact_float16_and_float64_are_converted_with_a_warning(tmp_path, dtype):
    params = {k: v.astype(np.float16).astype(dtype) for k, v in random_params(CFG, 2).items()}  # float16 values
    path = tmp_path / "half.safetensors"
    _save_plain(path, params)
    with pytest.warns(ModelConversionWarning, match=f"12 tensors converted from {np.dtype(dtype).name} to float32 "
                                                    "\\(exact"):
        cfg, loaded, _ = load_model(str(path))
    for name, arr in params.items():
        assert loaded[name].dtype == np.float32 and np.array_equal(loaded[name].astype(dtype), arr)


def test_bfloat16_is_converted_exactly(tmp_path):
    torch = pytest.importorskip("torch", reason="torch writes the bfloat16 file")
    from safetensors.torch import save_file

    params = random_params(CFG, 3)
    tensors = {k: torch.from_numpy(v).to(torch.bfloat16) for k, v in params.items()}
    path = tmp_path / "bf16.safetensors"
    save_file(tensors, str(path))
    with pytest.warns(ModelConversionWarning, match="bfloat16 to float32"):
        _, loaded, _ = load_model(str(path))
    for name, t in tensors.items():
        assert np.array_equal(loaded[name], t.to(torch.float32).numpy())


def test_inexact_float64_is_refused_saying_how(tmp_path):
    params = {k: v.astype(np.float64) for k, v in random_params(CFG, 4).items()}
    params["embed.W_E"][0, 0] += 1e-12  # not a float32 value
    path = tmp_path / "double.safetensors"
    _save_plain(path, params)
    with pytest.raises(ModelFileError, match=r"embed.W_E is float64 .*not float32 values.*model.to\(torch.float32\)"):
        load_model(str(path))


def test_integer_tensors_are_refused(tmp_path):
    params = dict(random_params(CFG, 5))
    params["unembed.b_U"] = np.zeros(CFG.d_vocab, dtype=np.int32)
    path = tmp_path / "int.safetensors"
    _save_plain(path, params)
    with pytest.raises(ModelFileError, match="unembed.b_U has dtype int32"):
        load_model(str(path))


def test_a_directory_is_named_as_one(tmp_path):
    with pytest.raises(ModelFileError, match="is a directory"):
        load_model(str(tmp_path))


def test_certify_prints_the_conversion_warning_as_one_line(tmp_path):
    pytest.importorskip("torch", reason="certify eval needs the generator extra")
    params = {k: v.astype(np.float16) for k, v in random_params(CFG, 6).items()}
    path = tmp_path / "half.safetensors"
    _save_plain(path, params)
    p = subprocess.run([sys.executable, "-m", "generator", "eval", str(path), "-q"], capture_output=True,
                       text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert p.stderr.startswith("certify: warning: ") and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "12 tensors converted from float16 to float32 (exact" in p.stderr


def _transformer_lens():
    """The real transformer_lens package, or a skip naming why it cannot be used here."""
    try:
        import transformer_lens
    except ImportError as exc:
        pytest.skip(f"transformer-lens is not installed ({exc}); .ci/run installs it where the index is reachable")
    return transformer_lens


def test_a_real_transformer_lens_state_dict_loads_and_evaluates_the_same(tmp_path):
    tl = _transformer_lens()
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    from generator.model import AttnOnlyTransformer

    cfg = ModelConfig(d_vocab=7, d_model=8, d_head=4, n_ctx=3)
    tl_cfg = tl.HookedTransformerConfig(n_layers=1, n_heads=1, d_model=cfg.d_model, d_head=cfg.d_head,
                                        d_vocab=cfg.d_vocab, n_ctx=cfg.n_ctx, attn_only=True,
                                        normalization_type=None, act_fn=None, seed=0, device="cpu")
    model = tl.HookedTransformer(tl_cfg)
    with torch.no_grad():  # biases too, so that every parameter's role is tested
        for name, p in model.named_parameters():
            if ".b_" in name:
                p.normal_(0, 0.3)
    state = model.state_dict()
    assert {"blocks.0.attn.IGNORE", "blocks.0.attn.mask"} <= set(state)  # what TransformerLens saves
    path = tmp_path / "tl.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    loaded_cfg, params, _ = load_model(str(path))
    assert loaded_cfg == cfg
    tokens = torch.cartesian_prod(*[torch.arange(cfg.d_vocab)] * cfg.n_ctx)
    with torch.no_grad():
        ours = AttnOnlyTransformer.from_numpy(cfg, params)(tokens)
        theirs = model(tokens)[:, -1, :]
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()

    half = tmp_path / "tl-half.safetensors"
    save_file({k: v.to(torch.float16).contiguous() if v.is_floating_point() else v.contiguous()
               for k, v in state.items()}, str(half))
    with pytest.warns(ModelConversionWarning):
        assert load_model(str(half))[0] == cfg
