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


# --- file mode, and TransformerLens configs that change the model's meaning ---------------------------------

def test_model_files_are_written_with_the_umask_mode_not_0600(tmp_path):
    import os

    from generator.modelio import save_model

    for name, umask, mode in (("m", 0o022, 0o644), ("g", 0o027, 0o640)):
        old = os.umask(umask)
        try:
            save_model(str(tmp_path / f"{name}.safetensors"), CFG, random_params(CFG, 0))
        finally:
            os.umask(old)
        assert os.stat(tmp_path / f"{name}.safetensors").st_mode & 0o777 == mode
    assert load_model(str(tmp_path / "m.safetensors"))[0] == CFG


def _tl_config(**changes):
    """The keys of HookedTransformerConfig.to_dict() that matter here, for CFG, with changes."""
    d = {"n_layers": 1, "n_heads": 1, "d_model": CFG.d_model, "d_head": CFG.d_head, "d_vocab": CFG.d_vocab,
         "n_ctx": CFG.n_ctx, "d_vocab_out": CFG.d_vocab, "attn_only": True, "normalization_type": None,
         "act_fn": None, "use_attn_scale": True, "attn_scale": float(np.sqrt(CFG.d_head)),
         "positional_embedding_type": "standard", "attn_scores_soft_cap": -1.0, "output_logits_soft_cap": -1.0,
         "use_local_attn": False, "n_key_value_heads": None, "device": "cpu", "seed": 0}
    d.update(changes)
    return d


def _tl_model_with_config(tmp_path, **changes):
    import json

    path = tmp_path / "tl.safetensors"
    _save_plain(path, _with_buffers(random_params(CFG, 3), CFG.n_ctx))
    (tmp_path / "tl.cfg.json").write_text(json.dumps(_tl_config(**changes)))
    return path


def test_a_transformer_lens_config_beside_the_model_is_read_and_a_default_one_accepted(tmp_path):
    path = _tl_model_with_config(tmp_path)
    assert load_model(str(path))[0] == CFG


@pytest.mark.parametrize("changes, words", [
    ({"use_attn_scale": False}, "use_attn_scale=False: its attention scores are not divided by sqrt(d_head)"),
    ({"attn_scale": 1.0}, "attn_scale=1.0"),
    ({"normalization_type": "LNPre"}, "normalization_type='LNPre'"),
    ({"positional_embedding_type": "rotary"}, "positional_embedding_type='rotary'"),
    ({"attn_scores_soft_cap": 50.0}, "attn_scores_soft_cap=50.0"),
    ({"n_ctx": CFG.n_ctx + 1}, "n_ctx=4"),
])
def test_a_transformer_lens_config_with_another_meaning_is_refused(tmp_path, changes, words):
    path = _tl_model_with_config(tmp_path, **changes)
    with pytest.raises(ModelFileError, match="refused") as info:
        load_model(str(path))
    assert words in str(info.value) and "tl.cfg.json" in str(info.value)
    assert "\n" not in str(info.value)


def test_an_explicit_config_overrides_the_file_beside_and_a_bad_one_is_named(tmp_path):
    path = _tl_model_with_config(tmp_path)
    with pytest.raises(ModelFileError, match="use_attn_scale=False"):
        load_model(str(path), config=_tl_config(use_attn_scale=False))
    (tmp_path / "tl.cfg.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not a readable TransformerLens config"):
        load_model(str(path))


def test_certify_refuses_an_unscaled_transformer_lens_model_exit_2(tmp_path):
    path = _tl_model_with_config(tmp_path, use_attn_scale=False)
    for cmd in (["eval", str(path), "-q"],
                ["generate", str(path), "--strategy", "cubic", "-q", "-o", str(tmp_path / "c.cert")]):
        p = subprocess.run([sys.executable, "-m", "generator", *cmd], capture_output=True, text=True, cwd=ROOT)
        assert p.returncode == 2, (cmd, p.stdout, p.stderr)
        assert "use_attn_scale=False" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert not (tmp_path / "c.cert").exists()


class _FakeHooked:
    """What from_hooked_transformer reads of a HookedTransformer: cfg (with to_dict) and state_dict()."""

    def __init__(self, params, cfg_dict):
        import torch

        self._state = {k: torch.from_numpy(np.array(v)) for k, v in params.items()}
        self.cfg = type("Cfg", (), {"to_dict": lambda _self: dict(cfg_dict)})()

    def state_dict(self):
        return self._state


def test_from_hooked_transformer_checks_the_config():
    pytest.importorskip("torch")
    from generator.modelio import from_hooked_transformer

    params = _with_buffers(random_params(CFG, 4), CFG.n_ctx)
    cfg, loaded = from_hooked_transformer(_FakeHooked(params, _tl_config()))
    assert cfg == CFG and weights_sha256(cfg, loaded) == weights_sha256(CFG, random_params(CFG, 4))
    with pytest.raises(ModelFileError, match="HookedTransformer: TransformerLens config use_attn_scale=False"):
        from_hooked_transformer(_FakeHooked(params, _tl_config(use_attn_scale=False)))


def test_a_real_hooked_transformer_without_attention_scale_is_refused():
    tl = _transformer_lens()
    from generator.modelio import from_hooked_transformer

    kwargs = dict(n_layers=1, n_heads=1, d_model=CFG.d_model, d_head=CFG.d_head, d_vocab=CFG.d_vocab,
                  n_ctx=CFG.n_ctx, attn_only=True, normalization_type=None, act_fn=None, seed=0, device="cpu")
    assert from_hooked_transformer(tl.HookedTransformer(tl.HookedTransformerConfig(**kwargs)))[0] == CFG
    unscaled = tl.HookedTransformer(tl.HookedTransformerConfig(use_attn_scale=False, **kwargs))
    with pytest.raises(ModelFileError, match="use_attn_scale=False"):
        from_hooked_transformer(unscaled)
