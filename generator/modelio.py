"""Reading and writing model files (safetensors, float32) without torch."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

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
    save_file({k: np.ascontiguousarray(v) for k, v in params.items()}, path, metadata=meta)


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


def load_model(path: str) -> tuple[ModelConfig, dict[str, np.ndarray], dict[str, str]]:
    """Load a model file: ours (config in metadata) or a plain TransformerLens state dict.

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
    if converted:
        dtypes = ", ".join(sorted(set(converted.values())))
        warnings.warn(f"{path}: {len(converted)} tensors converted from {dtypes} to float32 (exact: every value "
                      "is a float32 value)", ModelConversionWarning, stacklevel=2)
    return cfg, params, meta
