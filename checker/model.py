"""The model's parameters: names, shapes, and their exact dyadic meaning.

A float32 tensor is an integer tensor times a power of two; `ExactTensor` holds
that form so that products can be computed exactly with `fmpz_mat`.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import numpy as np

PARAM_NAMES: tuple[str, ...] = (
    "embed.W_E",
    "pos_embed.W_pos",
    "blocks.0.attn.W_Q",
    "blocks.0.attn.W_K",
    "blocks.0.attn.W_V",
    "blocks.0.attn.W_O",
    "blocks.0.attn.b_Q",
    "blocks.0.attn.b_K",
    "blocks.0.attn.b_V",
    "blocks.0.attn.b_O",
    "unembed.W_U",
    "unembed.b_U",
)

TASKS = ("max-of-k",)


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a 1-layer, 1-head, attention-only transformer reading n_ctx tokens."""

    d_vocab: int
    d_model: int
    d_head: int
    n_ctx: int
    task: str = "max-of-k"

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Expected shape of every parameter (TransformerLens names and layout)."""
        v, m, h, k = self.d_vocab, self.d_model, self.d_head, self.n_ctx
        return {
            "embed.W_E": (v, m),
            "pos_embed.W_pos": (k, m),
            "blocks.0.attn.W_Q": (1, m, h),
            "blocks.0.attn.W_K": (1, m, h),
            "blocks.0.attn.W_V": (1, m, h),
            "blocks.0.attn.W_O": (1, h, m),
            "blocks.0.attn.b_Q": (1, h),
            "blocks.0.attn.b_K": (1, h),
            "blocks.0.attn.b_V": (1, h),
            "blocks.0.attn.b_O": (m,),
            "unembed.W_U": (m, v),
            "unembed.b_U": (v,),
        }

    @staticmethod
    def infer(shapes: dict[str, tuple[int, ...]], task: str = "max-of-k") -> "ModelConfig":
        """Infer the config from tensor shapes; raises ValueError if they are inconsistent."""
        try:
            d_vocab, d_model = shapes["embed.W_E"]
            n_ctx = shapes["pos_embed.W_pos"][0]
            d_head = shapes["blocks.0.attn.W_Q"][2]
        except (KeyError, ValueError, IndexError) as exc:
            raise ValueError(f"cannot infer the model config from tensor shapes: {exc}") from None
        return ModelConfig(int(d_vocab), int(d_model), int(d_head), int(n_ctx), task)


def check_params(cfg: ModelConfig, params: dict[str, np.ndarray]) -> None:
    """Raise ValueError unless params has exactly the expected finite float32 tensors."""
    if cfg.task not in TASKS:
        raise ValueError(f"unknown task {cfg.task!r} (known: {', '.join(TASKS)})")
    for field in ("d_vocab", "d_model", "d_head", "n_ctx"):
        if getattr(cfg, field) < 1:
            raise ValueError(f"config {field} must be positive")
    expected = cfg.shapes()
    missing = [n for n in expected if n not in params]
    if missing:
        raise ValueError(f"missing tensor {missing[0]}")
    extra = [n for n in params if n not in expected]
    if extra:
        raise ValueError(f"unexpected tensor {extra[0]}")
    for name, shape in expected.items():
        arr = params[name]
        if tuple(arr.shape) != shape:
            raise ValueError(f"tensor {name} has shape {tuple(arr.shape)}, expected {shape}")
        if arr.dtype != np.float32:
            raise ValueError(f"tensor {name} has dtype {arr.dtype}, expected float32")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"tensor {name} contains NaN or infinity")


def weights_sha256(cfg: ModelConfig, params: dict[str, np.ndarray]) -> str:
    """SHA-256 of the canonical weight bytes.

    For each tensor in PARAM_NAMES order: the UTF-8 name, a NUL byte, the rank and each
    dimension as unsigned 64-bit little-endian integers, then the values in row-major
    order as little-endian IEEE 754 binary32.
    """
    h = hashlib.sha256()
    for name in PARAM_NAMES:
        arr = np.ascontiguousarray(params[name], dtype="<f4")
        h.update(name.encode() + b"\0")
        h.update(struct.pack("<Q", arr.ndim))
        for dim in arr.shape:
            h.update(struct.pack("<Q", dim))
        h.update(arr.tobytes())
    return h.hexdigest()


class ModelFileError(Exception):
    """A model file that cannot be read; the message is one line for the user."""


IGNORED_BUFFERS = ("blocks.0.attn.IGNORE", "blocks.0.attn.mask")  # TransformerLens buffers, not weights
MAX_MODEL_TENSOR_ELEMENTS = 1 << 24


def read_model_sha256(path: str) -> str:
    """The weight hash (weights_sha256) of a safetensors model file, read with safetensors' numpy API.

    Tensor shapes are checked from the file's header before any tensor is read; raises ModelFileError."""
    import os

    if not os.path.isfile(path):
        raise ModelFileError("no such file")
    try:
        from safetensors import safe_open

        params = {}
        with safe_open(path, framework="np") as f:
            names = [n for n in f.keys() if n not in IGNORED_BUFFERS]
            for name in names:
                shape = f.get_slice(name).get_shape()
                size = 1
                for dim in shape:
                    size *= int(dim)
                if len(shape) > 3 or size > MAX_MODEL_TENSOR_ELEMENTS:
                    raise ModelFileError(f"tensor {name} has shape {list(shape)[:8]}, beyond the limits")
            for name in names:
                params[name] = f.get_tensor(name)
    except ModelFileError:
        raise
    except Exception as exc:  # safetensors raises its own error types for bad headers
        msg = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ModelFileError(f"not a readable safetensors file ({msg})") from None
    try:
        cfg = ModelConfig.infer({k: tuple(v.shape) for k, v in params.items()})
        check_params(cfg, params)
    except ValueError as exc:
        raise ModelFileError(str(exc)) from None
    return weights_sha256(cfg, params)
