"""Training on Max-of-K as in Gross et al. 2024: AdamW, i.i.d. uniform sequences, loss at the last position."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from checker.model import ModelConfig
from generator.model import AttnOnlyTransformer, pick_device


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 123
    steps: int = 3000
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.01


def train(cfg: ModelConfig, tcfg: TrainConfig, device: str | None = None, progress: bool = True
          ) -> tuple[dict[str, np.ndarray], dict]:
    """Train a model; returns float32 numpy params and a metadata dict (deterministic per seed on CPU)."""
    from tqdm import tqdm

    dev = pick_device(device)
    torch.manual_seed(tcfg.seed)
    model = AttnOnlyTransformer(cfg).to(dev)
    data_gen = torch.Generator(device="cpu").manual_seed(tcfg.seed + 1)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                            lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    start = time.perf_counter()
    bar = tqdm(range(tcfg.steps), desc=f"train K={cfg.n_ctx} V={cfg.d_vocab} seed={tcfg.seed}",
               disable=not progress, leave=False)
    loss_value = float("nan")
    for step in bar:
        tokens = torch.randint(0, cfg.d_vocab, (tcfg.batch_size, cfg.n_ctx), generator=data_gen).to(dev)
        logits = model(tokens)
        loss = F.cross_entropy(logits, tokens.max(dim=-1).values)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == tcfg.steps - 1:
            loss_value = loss.item()
            bar.set_postfix(loss=f"{loss_value:.4f}")
    seconds = time.perf_counter() - start
    meta = {"seed": str(tcfg.seed), "training": asdict(tcfg), "train_seconds": f"{seconds:.2f}",
            "final_loss": f"{loss_value:.6f}", "train_device": str(dev)}
    return model.cpu().numpy_params(), meta
