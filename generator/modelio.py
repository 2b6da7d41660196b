"""Reading and writing model files (safetensors, float32) without torch."""

from __future__ import annotations

import json
import os

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from checker.model import ModelConfig, check_params


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


def load_model(path: str) -> tuple[ModelConfig, dict[str, np.ndarray], dict[str, str]]:
    """Load a model file: ours (config in metadata) or a plain TransformerLens state dict.

    Raises ModelFileError with a one-line reason for anything unusable.
    """
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such file")
    try:
        from safetensors import safe_open

        with safe_open(path, framework="np") as f:
            meta = dict(f.metadata() or {})
        params = load_file(path)
    except (SafetensorError, OSError, ValueError, TypeError, RuntimeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path}: not a readable safetensors file ({msg})") from None
    params = {k: v for k, v in params.items()}
    shapes = {k: tuple(v.shape) for k, v in params.items()}
    try:
        if {"d_vocab", "d_model", "d_head", "n_ctx"} <= meta.keys():
            cfg = ModelConfig(
                int(meta["d_vocab"]), int(meta["d_model"]), int(meta["d_head"]), int(meta["n_ctx"]),
                meta.get("task", "max-of-k"),
            )
        else:
            cfg = ModelConfig.infer(shapes)
        check_params(cfg, params)
    except ValueError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    return cfg, params, meta
