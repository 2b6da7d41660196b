"""Float evaluation of a model's accuracy (not a proof): exhaustive when small, sampled otherwise."""

from __future__ import annotations

import math

import numpy as np
import torch

from checker.model import ModelConfig
from generator.model import AttnOnlyTransformer, pick_device

EXHAUSTIVE_LIMIT = 1 << 25  # at most this many inputs: every one is evaluated
DEFAULT_SAMPLES = 1_000_000  # above it: this many uniform random inputs


def _correct(model: AttnOnlyTransformer, tokens: torch.Tensor) -> int:
    """Number of sequences whose max token's logit strictly beats every other logit (float)."""
    logits = model(tokens)
    target = tokens.max(dim=-1).values
    right = logits.gather(1, target[:, None])
    logits = logits.scatter(1, target[:, None], float("-inf"))
    return int((right[:, 0] > logits.max(dim=-1).values).sum())


def all_sequences(d_vocab: int, n_ctx: int, start: int, stop: int) -> torch.Tensor:
    """Sequences with lexicographic indices start..stop-1 as a [n, n_ctx] tensor (position 0 most significant)."""
    idx = torch.arange(start, stop, dtype=torch.int64)
    cols = []
    for _ in range(n_ctx):
        cols.append(idx % d_vocab)
        idx = idx // d_vocab
    return torch.stack(cols[::-1], dim=1)


DEFAULT_THREADS = 1  # fastest measured on a loaded 2-core machine (benchmarks/bench_eval_threads.py)


def float_accuracy(cfg: ModelConfig, params: dict[str, np.ndarray], device: str | None = None,
                   samples: int = DEFAULT_SAMPLES, seed: int = 0, batch: int = 1 << 18, progress: bool = True,
                   threads: int = DEFAULT_THREADS) -> dict:
    """Float32 accuracy: exact count over all inputs when d_vocab^K <= 2^25, else a sampled estimate
    from `samples` uniform inputs. `threads` is torch's CPU thread count while it runs."""
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            return _float_accuracy(cfg, params, pick_device(device), samples, seed, batch, progress)
    finally:
        torch.set_num_threads(old_threads)


def _float_accuracy(cfg: ModelConfig, params: dict[str, np.ndarray], dev: torch.device, samples: int, seed: int,
                    batch: int, progress: bool) -> dict:
    from tqdm import tqdm

    model = AttnOnlyTransformer.from_numpy(cfg, params).to(dev)
    total = cfg.d_vocab ** cfg.n_ctx
    if total <= EXHAUSTIVE_LIMIT:
        correct = 0
        for start in tqdm(range(0, total, batch), desc="eval (float, exhaustive)", disable=not progress, leave=False):
            tokens = all_sequences(cfg.d_vocab, cfg.n_ctx, start, min(total, start + batch)).to(dev)
            correct += _correct(model, tokens)
        return {"kind": "float32 evaluation (not a proof)", "method": "exhaustive", "correct": correct,
                "total": total, "accuracy": correct / total}
    gen = torch.Generator(device="cpu").manual_seed(seed)
    correct = 0
    done = 0
    for start in tqdm(range(0, samples, batch), desc="eval (float, sampled)", disable=not progress, leave=False):
        n = min(batch, samples - start)
        tokens = torch.randint(0, cfg.d_vocab, (n, cfg.n_ctx), generator=gen).to(dev)
        correct += _correct(model, tokens)
        done += n
    low, high = wilson_interval(correct, done)
    return {"kind": "float32 evaluation (not a proof)", "method": "sampled", "correct": correct, "samples": done,
            "total": total, "accuracy": correct / done, "ci95": [low, high]}


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for a binomial proportion."""
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
