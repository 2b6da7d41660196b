"""Reading and writing model files (safetensors, float32) without torch."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save

from checker.model import PARAM_NAMES, ModelConfig, check_params


class ModelFileError(Exception):
    """A model file that cannot be used; the message is one line for the user."""


def save_model(path: str, cfg: ModelConfig, params: dict[str, np.ndarray], extra: dict | None = None) -> None:
    """Write params as float32 safetensors with the config (and extra fields) in the metadata."""
    check_params(cfg, params)
    meta = {
        "d_vocab": str(cfg.d_vocab),
        "d_model": str(cfg.d_model),
        "d_head": str(cfg.d_head),
        "n_ctx": str(cfg.n_ctx),
        "task": cfg.task,
    }
    for key, value in (extra or {}).items():
        meta[key] = value if isinstance(value, str) else json.dumps(value)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    data = save({k: np.ascontiguousarray(v) for k, v in params.items()}, metadata=meta)
    # open() creates the file with mode 0666 less the umask (0644 under umask 022), as other tools do;
    # safetensors' save_file would create it 0600, unreadable by the group and others
    with open(path, "wb") as f:
        f.write(data)


# Buffers that TransformerLens keeps in a HookedTransformer's state dict beside the parameters: the
# attention's causal mask and the score it writes where the mask hides a position. They are not weights.
TRANSFORMER_LENS_BUFFERS = ("blocks.0.attn.IGNORE", "blocks.0.attn.mask")


class ModelConversionWarning(UserWarning):
    """A model file's tensors were converted to float32 (exactly) on loading."""


def _read_tensors(path: str) -> tuple[dict[str, np.ndarray], dict[str, str], set[str]]:
    """Every tensor and the metadata of a safetensors file, and the names of its bfloat16 tensors, which come
    back as float32 (exact: a bfloat16 is the top half of a float32)."""
    with open(path, "rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_len)) if 0 < header_len < 100_000_000 else {}
    bfloat16 = set()
    with safe_open(path, framework="np") as f:
        meta = dict(f.metadata() or {})
        tensors = {}
        for name in f.keys():
            info = header.get(name, {})
            if info.get("dtype") == "BF16":  # numpy has no bfloat16: widen the raw bits
                start, stop = info["data_offsets"]
                with open(path, "rb") as raw:
                    raw.seek(8 + header_len + start)
                    bits = np.frombuffer(raw.read(stop - start), dtype="<u2").astype("<u4") << 16
                tensors[name] = bits.view("<f4").reshape(info["shape"]).astype(np.float32)
                bfloat16.add(name)
            else:
                tensors[name] = f.get_tensor(name)
    return tensors, meta, bfloat16


def _to_float32(path: str, name: str, arr: np.ndarray) -> np.ndarray:
    """arr as float32 when that is exact (float16, or float64 holding float32 values); raises ModelFileError,
    saying how to fix the file, when it is not."""
    if arr.dtype == np.float32:
        return arr
    if arr.dtype.kind != "f":
        raise ModelFileError(f"{path}: tensor {name} has dtype {arr.dtype}; model weights must be floating point "
                             "(float32, or float16/bfloat16/float64, converted when exact)")
    with np.errstate(all="ignore"):
        converted = arr.astype(np.float32)
        exact = np.array_equal(converted.astype(arr.dtype), arr, equal_nan=True)
    if not exact:
        raise ModelFileError(
            f"{path}: tensor {name} is {arr.dtype} and its values are not float32 values; certificates speak about "
            "float32 weights exactly, so round them yourself and save the file again (e.g. "
            "model.to(torch.float32) before saving): the rounded model is then the model certified")
    return converted


def _drop_buffers(path: str, params: dict[str, np.ndarray], n_ctx: int) -> None:
    """Remove TransformerLens's attention buffers, after checking that the mask hides no position from the
    last query (the position whose logits the model's semantics use). An empty mask is TransformerLens's
    not-yet-built causal mask."""
    mask = params.pop("blocks.0.attn.mask", None)
    params.pop("blocks.0.attn.IGNORE", None)
    if mask is None or mask.size == 0:
        return
    if mask.shape != (n_ctx, n_ctx):
        raise ModelFileError(f"{path}: blocks.0.attn.mask has shape {tuple(mask.shape)}, expected "
                             f"({n_ctx}, {n_ctx}) (TransformerLens's causal mask)")
    if not np.all(mask[n_ctx - 1]):
        raise ModelFileError(f"{path}: blocks.0.attn.mask hides positions from the last query; this project's "
                             "models attend over all K positions from the last one")


# A TransformerLens config saved beside a state dict: for MODEL.safetensors, MODEL.cfg.json (e.g.
# `json.dump(model.cfg.to_dict(), f, default=str)`). When it is there, load_model reads it and refuses a model whose
# config gives it another meaning than docs/design.md's (e.g. use_attn_scale=False: scores not divided by
# sqrt(d_head)), which the weights alone cannot show.
TL_CONFIG_SUFFIX = ".cfg.json"


def config_path_for(path: str) -> str:
    """The TransformerLens config file that load_model reads beside a model file, if it exists."""
    stem = path[: -len(".safetensors")] if path.endswith(".safetensors") else path
    return stem + TL_CONFIG_SUFFIX


def _config_dict(tl_cfg) -> dict:
    """A HookedTransformerConfig (or anything with to_dict() or attributes) or a dict, as a dict."""
    if isinstance(tl_cfg, dict):
        return tl_cfg
    if hasattr(tl_cfg, "to_dict"):
        return dict(tl_cfg.to_dict())
    return dict(vars(tl_cfg))


def _is_default_scale(value, d_head: int) -> bool:
    """attn_scale as TransformerLens's default: -1 (not yet set) or sqrt(d_head) as a float."""
    import math

    try:
        x = float(value)
    except (TypeError, ValueError):
        return False
    return x == -1.0 or abs(x - math.sqrt(d_head)) <= 1e-9 * math.sqrt(d_head)


def check_transformer_lens_config(tl_cfg, cfg: ModelConfig, source: str) -> None:
    """Raise ModelFileError unless a TransformerLens config describes the model of docs/design.md with the
    configuration cfg: one layer, one head, attention only, no normalisation, learned absolute positions, scores
    divided by sqrt(d_head) (use_attn_scale and TransformerLens's default attn_scale), no soft caps or local
    attention. Keys it does not name (hooks, devices, tokenizer settings) do not change the function and are
    ignored; a missing key takes TransformerLens's default."""
    d = _config_dict(tl_cfg)

    def refuse(key: str, why: str) -> None:
        raise ModelFileError(f"{source}: TransformerLens config {key}={d.get(key)!r}: {why}; certificates speak "
                             "about the model of docs/design.md only, so this model is refused")

    if d.get("use_attn_scale", True) is not True:
        refuse("use_attn_scale", "its attention scores are not divided by sqrt(d_head)")
    if "attn_scale" in d and not _is_default_scale(d["attn_scale"], cfg.d_head):
        refuse("attn_scale", f"its scores are divided by another number than sqrt(d_head) = sqrt({cfg.d_head})")
    for key, value in (("n_layers", 1), ("n_heads", 1), ("attn_only", True), ("normalization_type", None),
                       ("positional_embedding_type", "standard"), ("use_local_attn", False),
                       ("n_key_value_heads", None), ("use_qk_norm", False)):
        if key in d and d[key] != value:
            refuse(key, f"expected {value!r}")
    for key in ("attn_scores_soft_cap", "output_logits_soft_cap"):
        if d.get(key) is not None and not (isinstance(d[key], (int, float)) and d[key] <= 0):
            refuse(key, "a soft cap changes the scores or logits")
    for key, value in (("d_vocab", cfg.d_vocab), ("d_model", cfg.d_model), ("d_head", cfg.d_head),
                       ("n_ctx", cfg.n_ctx)):
        if key in d and d[key] != value:
            refuse(key, f"the weights have {key} {value}")
    if d.get("d_vocab_out", -1) not in (-1, cfg.d_vocab):
        refuse("d_vocab_out", f"the model must output d_vocab = {cfg.d_vocab} logits")


def read_transformer_lens_config(config_path: str) -> dict:
    """A TransformerLens config saved as JSON (HookedTransformerConfig.to_dict()); ModelFileError if unreadable."""
    try:
        with open(config_path, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{config_path}: not a readable TransformerLens config (JSON): {exc}") from None
    if not isinstance(d, dict):
        raise ModelFileError(f"{config_path}: a TransformerLens config is a JSON object")
    return d


def from_hooked_transformer(model) -> tuple[ModelConfig, dict[str, np.ndarray]]:
    """(config, float32 parameters) of a TransformerLens HookedTransformer object, after checking its config
    (check_transformer_lens_config: e.g. use_attn_scale=False is refused). Save them with save_model to certify."""
    state = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    cfg = ModelConfig.infer({k: tuple(v.shape) for k, v in state.items() if k not in TRANSFORMER_LENS_BUFFERS})
    check_transformer_lens_config(model.cfg, cfg, "HookedTransformer")
    _drop_buffers("HookedTransformer", state, cfg.n_ctx)
    params = {k: _to_float32("HookedTransformer", k, v) for k, v in state.items()}
    try:
        check_params(cfg, params)
    except ValueError as exc:
        raise ModelFileError(f"HookedTransformer: {exc}") from None
    return cfg, params


def load_model(path: str, config: str | dict | None = None
               ) -> tuple[ModelConfig, dict[str, np.ndarray], dict[str, str]]:
    """Load a model file: ours (config in metadata) or a plain TransformerLens state dict.

    config: a TransformerLens config (a JSON file's path, or a dict / HookedTransformerConfig); by default
    MODEL.cfg.json beside MODEL.safetensors when it exists. It is checked by check_transformer_lens_config
    (e.g. use_attn_scale=False is refused, as the weights alone cannot show it).

    TransformerLens's attention buffers (IGNORE, mask) are dropped; float16, bfloat16 and float64 tensors
    are converted to float32 where that is exact (a ModelConversionWarning says so) and refused otherwise.
    Raises ModelFileError with a one-line reason for anything unusable.
    """
    if os.path.isdir(path):
        raise ModelFileError(f"{path}: is a directory; give a model file (.safetensors)")
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such file")
    try:
        params, meta, bfloat16 = _read_tensors(path)
    except (SafetensorError, OSError, ValueError, TypeError, RuntimeError, KeyError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path}: not a readable safetensors file ({msg})") from None
    shapes = {k: tuple(v.shape) for k, v in params.items()}
    try:
        if {"d_vocab", "d_model", "d_head", "n_ctx"} <= meta.keys():
            cfg = ModelConfig(
                int(meta["d_vocab"]), int(meta["d_model"]), int(meta["d_head"]), int(meta["n_ctx"]),
                meta.get("task", "max-of-k"),
            )
        else:
            cfg = ModelConfig.infer(shapes)
        _drop_buffers(path, params, cfg.n_ctx)
        extra = sorted(set(params) - set(PARAM_NAMES))
        if extra:
            raise ValueError(f"unexpected tensor {extra[0]}: a model here is a 1-layer, 1-head, attention-only "
                             "transformer without LayerNorm (TransformerLens names "
                             + ", ".join(PARAM_NAMES) + ", and the buffers " + ", ".join(TRANSFORMER_LENS_BUFFERS)
                             + ")")
        converted = {k: "bfloat16" for k in bfloat16} | {k: str(v.dtype) for k, v in params.items()
                                                         if v.dtype != np.float32}
        params = {k: _to_float32(path, k, v) for k, v in params.items()}
        check_params(cfg, params)
    except ValueError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    if config is None and os.path.isfile(config_path_for(path)):
        config = config_path_for(path)
    if config is not None:
        source = config if isinstance(config, str) else path
        check_transformer_lens_config(read_transformer_lens_config(config) if isinstance(config, str) else config,
                                      cfg, source)
    if converted:
        dtypes = ", ".join(sorted(set(converted.values())))
        warnings.warn(f"{path}: {len(converted)} tensors converted from {dtypes} to float32 (exact: every value "
                      "is a float32 value)", ModelConversionWarning, stacklevel=2)
    return cfg, params, meta
