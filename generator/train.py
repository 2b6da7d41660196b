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


DEFAULT_THREADS = 1  # measured fastest on a loaded 2-core machine (benchmarks/bench_train_eval.py)


def train(cfg: ModelConfig, tcfg: TrainConfig, device: str | None = None, progress: bool = True,
          threads: int = DEFAULT_THREADS) -> tuple[dict[str, np.ndarray], dict]:
    """Train a model; returns float32 numpy params and a metadata dict.

    Bit-reproducible for a given (config, seed, torch version, device type): torch runs deterministic
    algorithms, and on the CPU its kernels give the same bits for any thread count (tests/test_train.py)."""
    dev = pick_device(device)
    old_threads, old_deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        return _train(cfg, tcfg, dev, progress, threads)
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_deterministic)


def _train(cfg: ModelConfig, tcfg: TrainConfig, dev: torch.device, progress: bool, threads: int
           ) -> tuple[dict[str, np.ndarray], dict]:
    from tqdm import tqdm

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
            "final_loss": f"{loss_value:.6f}", "train_device": dev.type,
            "torch_version": torch.__version__, "train_threads": str(threads)}
    return model.cpu().numpy_params(), meta
