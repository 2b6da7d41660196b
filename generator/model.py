"""The 1-layer, 1-head, attention-only transformer in plain torch (TransformerLens names)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from checker.model import PARAM_NAMES, ModelConfig


class _Holder(nn.Module):
    """A bare module that only holds parameters, so that state_dict names match TransformerLens."""


class AttnOnlyTransformer(nn.Module):
    """logits = (x_q + sum_i softmax(s)_i (x_i W_V + b_V) W_O + b_O) W_U + b_U at the last position."""

    def __init__(self, cfg: ModelConfig, init_range: float | None = None):
        super().__init__()
        self.cfg = cfg
        std = 0.8 / math.sqrt(cfg.d_model) if init_range is None else init_range
        self.embed = _Holder()
        self.pos_embed = _Holder()
        self.blocks = nn.ModuleList([_Holder()])
        self.blocks[0].attn = _Holder()
        self.unembed = _Holder()
        for name, shape in cfg.shapes().items():
            owner = self._owner(name)
            leaf = name.rsplit(".", 1)[1]
            is_bias = leaf.startswith("b_")
            data = torch.zeros(shape) if is_bias else torch.randn(shape) * std
            # Biases exist (TransformerLens layout) but stay zero and frozen during training.
            owner.register_parameter(leaf, nn.Parameter(data, requires_grad=not is_bias))

    def _owner(self, name: str) -> nn.Module:
        module: nn.Module = self
        for part in name.split(".")[:-1]:
            module = module[int(part)] if part.isdigit() else getattr(module, part)
        return module

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits at the last position for tokens of shape [batch, n_ctx]."""
        attn = self.blocks[0].attn
        x = self.embed.W_E[tokens] + self.pos_embed.W_pos  # [b, K, m]
        query = x[:, -1] @ attn.W_Q[0] + attn.b_Q[0]  # [b, h]
        keys = x @ attn.W_K[0] + attn.b_K[0]  # [b, K, h]
        values = x @ attn.W_V[0] + attn.b_V[0]  # [b, K, h]
        scores = torch.einsum("bh,bkh->bk", query, keys) / math.sqrt(self.cfg.d_head)
        pattern = torch.softmax(scores, dim=-1)
        mixed = torch.einsum("bk,bkh->bh", pattern, values)
        resid = x[:, -1] + mixed @ attn.W_O[0] + attn.b_O
        return resid @ self.unembed.W_U + self.unembed.b_U

    def numpy_params(self) -> dict[str, np.ndarray]:
        sd = self.state_dict()
        return {n: sd[n].detach().cpu().numpy().astype(np.float32) for n in PARAM_NAMES}

    @classmethod
    def from_numpy(cls, cfg: ModelConfig, params: dict[str, np.ndarray]) -> "AttnOnlyTransformer":
        model = cls(cfg)
        model.load_state_dict({n: torch.from_numpy(np.asarray(params[n], dtype=np.float32)) for n in PARAM_NAMES})
        return model


def pick_device(requested: str | None) -> torch.device:
    """The requested device, or CUDA when present, else the CPU.

    Raises ValueError (one line, saying what to do) for a device this torch build or machine cannot use."""
    if not requested:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(requested)
    except RuntimeError:
        raise ValueError(f"--device {requested}: not a torch device (e.g. cpu, cuda, cuda:1)") from None
    if dev.type == "cuda":
        if torch.version.cuda is None:
            raise ValueError(f"--device {requested}: this torch build ({torch.__version__}) has no CUDA support; "
                             "use --device cpu, or install a CUDA build of torch (see README)")
        count = torch.cuda.device_count()
        if count == 0:
            raise ValueError(f"--device {requested}: no CUDA device is visible; use --device cpu")
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"--device {requested}: only {count} CUDA device(s) visible (cuda:0..cuda:{count - 1})")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {requested}: MPS is not available here; use --device cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"--device {requested}: certify runs on cpu, cuda or mps")
    return dev
