"""Float evaluation of a model's accuracy (not a proof): exhaustive when small, sampled otherwise.

Both modes evaluate the model through its per-position tables (float64, on the GPU when present): for the query
token q at the last position and token t at position i,

    score[i, q, t] = ((W_E[q] + W_pos[K-1]) W_Q + b_Q) . ((W_E[t] + W_pos[i]) W_K + b_K) / sqrt(d_head)
    ov[i, t]       = ((W_E[t] + W_pos[i]) W_V + b_V) W_O W_U
    direct[q]      = (W_E[q] + W_pos[K-1]) W_U + b_O W_U + b_U

so that logits(t) = direct[q] + sum_i softmax(score[., q, t.])_i ov[i, t_i], DESIGN.md's formula regrouped. The
exhaustive mode multiplies through by the softmax denominator, which does not change the argmax:
Z logits(t) = sum_i e_i[t_i] (ov[i, t_i] + direct[q]) with e_i[t] = exp(score[i, q, t] - c_q), a sum of one table row
per position, built for all inputs sharing a query by broadcasting (one addition per input and output).
When the tables (K d_vocab^2 entries) would outnumber the inputs evaluated, the float64 forward pass
(generator/model.py) evaluates the inputs instead."""

from __future__ import annotations

import math

import numpy as np
import torch

from checker.model import ModelConfig
from generator.model import AttnOnlyTransformer, pick_device

EXHAUSTIVE_LIMIT = 1 << 25  # at most this many inputs: every one is evaluated
DEFAULT_SAMPLES = 1_000_000  # above it: this many uniform random inputs
DEFAULT_THREADS = 1  # fastest measured on a loaded 2-core machine (benchmarks/bench_eval_threads.py)
KIND = "float64 evaluation (not a proof)"
_BLOCK = 1 << 18  # table entries built at once (2 MiB of float64: cache-sized, measured fastest)
_SAMPLED_CHUNK_BYTES = 1 << 21  # value rows gathered at once by the sampled count


def all_sequences(d_vocab: int, n_ctx: int, start: int, stop: int) -> torch.Tensor:
    """Sequences with lexicographic indices start..stop-1 as a [n, n_ctx] tensor (position 0 most significant)."""
    idx = torch.arange(start, stop, dtype=torch.int64)
    cols = []
    for _ in range(n_ctx):
        cols.append(idx % d_vocab)
        idx = idx // d_vocab
    return torch.stack(cols[::-1], dim=1)


def uses_tables(cfg: ModelConfig, inputs: int) -> bool:
    """Whether evaluating `inputs` inputs goes through the tables (no more table entries than inputs)."""
    return cfg.n_ctx * cfg.d_vocab ** 2 <= inputs


def table_bytes(cfg: ModelConfig, exhaustive: bool) -> int:
    """Peak memory of the tables (float64) and of what is built from them at once: in the exhaustive mode the
    prefix sums over all but the last two positions (d_vocab^(K-1) entries) and one block; when sampling, one chunk
    of gathered value rows with its copy."""
    tables = 3 * cfg.n_ctx * cfg.d_vocab ** 2
    if exhaustive:
        return 8 * (tables + cfg.d_vocab ** max(cfg.n_ctx - 1, 1) + 2 * _BLOCK)
    return 8 * tables + 2 * _SAMPLED_CHUNK_BYTES


def model_tables(cfg: ModelConfig, params: dict[str, np.ndarray], dev: torch.device
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(score [K, V, V] indexed [position, query, key token], ov [K, V, V], direct [V, V]) in float64."""
    p = {n: torch.from_numpy(np.asarray(a, dtype=np.float64)).to(dev) for n, a in params.items()}
    K = cfg.n_ctx
    W_E, W_pos, W_U = p["embed.W_E"], p["pos_embed.W_pos"], p["unembed.W_U"]
    pre = "blocks.0.attn."
    x = W_E[None, :, :] + W_pos[:, None, :]  # [K, V, m]: token t at position i
    query = x[K - 1] @ p[pre + "W_Q"][0] + p[pre + "b_Q"][0]  # [V, h]
    keys = x @ p[pre + "W_K"][0] + p[pre + "b_K"][0]  # [K, V, h]
    score = torch.einsum("qh,ith->iqt", query, keys) / math.sqrt(cfg.d_head)
    ov = (x @ p[pre + "W_V"][0] + p[pre + "b_V"][0]) @ p[pre + "W_O"][0] @ W_U  # [K, V, V]
    direct = x[K - 1] @ W_U + p[pre + "b_O"] @ W_U + p["unembed.b_U"]
    return score, ov, direct


def _strictly_right(scaled_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per row: the target's entry beats every other entry strictly (a tie is wrong). Overwrites the input."""
    if scaled_logits.shape[1] == 1:
        return torch.ones(len(target), dtype=torch.bool, device=target.device)
    right = scaled_logits.gather(1, target[:, None])[:, 0]
    scaled_logits.scatter_(1, target[:, None], float("-inf"))
    return right > scaled_logits.amax(dim=1)


def _exhaustive_correct(cfg: ModelConfig, score: torch.Tensor, ov: torch.Tensor, direct: torch.Tensor,
                        progress: bool) -> int:
    """Inputs whose max token strictly wins, counted over all d_vocab^K inputs, one query token at a time."""
    from tqdm import tqdm

    V, K = cfg.d_vocab, cfg.n_ctx
    dev = score.device
    tokens = torch.arange(V, device=dev)
    correct = 0
    for q in tqdm(range(V), desc="eval (float, exhaustive)", disable=not progress, leave=False):
        c = score[:, q, :].max()
        rows = torch.exp(score[:, q, :] - c)[:, :, None] * (ov + direct[q])  # [K, V, V]: position i, token t
        last = rows[K - 1, q]
        # prefix sums over positions 0..K-3 (all but the last free position), with their max tokens
        prefix = last[None, :].clone()
        prefix_max = torch.full((1,), q, device=dev)
        for i in range(K - 2):
            prefix = (prefix[:, None, :] + rows[i][None, :, :]).reshape(-1, V)
            prefix_max = torch.maximum(prefix_max[:, None], tokens[None, :]).reshape(-1)
        if K == 1:
            correct += int(_strictly_right(prefix, prefix_max).sum())
            continue
        step = max(1, _BLOCK // (V * V))
        for start in range(0, len(prefix), step):
            block = (prefix[start:start + step, None, :] + rows[K - 2][None, :, :]).reshape(-1, V)
            target = torch.maximum(prefix_max[start:start + step, None], tokens[None, :]).reshape(-1)
            correct += int(_strictly_right(block, target).sum())
    return correct


def _sampled_correct(cfg: ModelConfig, score: torch.Tensor, ov: torch.Tensor, direct: torch.Tensor,
                     tokens: torch.Tensor) -> int:
    """Inputs among `tokens` [n, K] whose max token strictly wins, in chunks whose gathered value rows stay in
    cache (about _SAMPLED_CHUNK_BYTES: 2.8x faster than 4096 inputs at once on 10x128, the same count)."""
    step = max(16, _SAMPLED_CHUNK_BYTES // (8 * cfg.n_ctx * cfg.d_vocab))
    return sum(_sampled_chunk_correct(cfg, score, ov, direct, tokens[start:start + step])
               for start in range(0, len(tokens), step))


def _sampled_chunk_correct(cfg: ModelConfig, score: torch.Tensor, ov: torch.Tensor, direct: torch.Tensor,
                           tokens: torch.Tensor) -> int:
    """Inputs among `tokens` [n, K] whose max token strictly wins (rows gathered from the flattened tables)."""
    n, K, V = len(tokens), cfg.n_ctx, cfg.d_vocab
    q = tokens[:, K - 1]
    rows = (tokens + V * torch.arange(K, device=tokens.device)[None, :]).reshape(-1)  # row i * V + t_i
    key_scores = score.permute(0, 2, 1).reshape(K * V, V)[rows, q.repeat_interleave(K)].reshape(n, K)
    values = ov.reshape(K * V, V).index_select(0, rows).reshape(n, K, V)
    logits = torch.bmm(torch.softmax(key_scores, dim=1)[:, None, :], values)[:, 0] + direct.index_select(0, q)
    return int(_strictly_right(logits, tokens.max(dim=1).values).sum())


def float_accuracy(cfg: ModelConfig, params: dict[str, np.ndarray], device: str | None = None,
                   samples: int = DEFAULT_SAMPLES, seed: int = 0, batch: int = 1 << 12, progress: bool = True,
                   threads: int = DEFAULT_THREADS) -> dict:
    """Float64 accuracy: exact count over all inputs when d_vocab^K <= 2^25, else a sampled estimate from
    `samples` uniform inputs with its 95% Wilson interval. `batch`: inputs per forward pass or per sampled
    block. `threads` is torch's CPU thread count."""
    from tqdm import tqdm

    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            dev = pick_device(device)
            total = cfg.d_vocab ** cfg.n_ctx
            exhaustive = total <= EXHAUSTIVE_LIMIT
            if uses_tables(cfg, total if exhaustive else samples):
                score, ov, direct = model_tables(cfg, params, dev)
                if exhaustive:
                    correct = _exhaustive_correct(cfg, score, ov, direct, progress)
                    return {"kind": KIND, "method": "exhaustive", "correct": correct, "total": total,
                            "accuracy": correct / total}

                def count(tokens: torch.Tensor) -> int:
                    return _sampled_correct(cfg, score, ov, direct, tokens)
            else:
                model = AttnOnlyTransformer.from_numpy(cfg, params).double().to(dev)

                def count(tokens: torch.Tensor) -> int:
                    return int(_strictly_right(model(tokens), tokens.max(dim=1).values).sum())
                if exhaustive:
                    correct = sum(count(all_sequences(cfg.d_vocab, cfg.n_ctx, start, min(total, start + batch)).to(dev))
                                  for start in tqdm(range(0, total, batch), desc="eval (float, exhaustive)",
                                                    disable=not progress, leave=False))
                    return {"kind": KIND, "method": "exhaustive", "correct": correct, "total": total,
                            "accuracy": correct / total}
            gen = torch.Generator(device="cpu").manual_seed(seed)
            correct = done = 0
            for start in tqdm(range(0, samples, batch), desc="eval (float, sampled)", disable=not progress,
                              leave=False):
                n = min(batch, samples - start)
                tokens = torch.randint(0, cfg.d_vocab, (n, cfg.n_ctx), generator=gen).to(dev)
                correct += count(tokens)
                done += n
    finally:
        torch.set_num_threads(old_threads)
    low, high = wilson_interval(correct, done)
    return {"kind": KIND, "method": "sampled", "correct": correct, "samples": done,
            "total": total, "accuracy": correct / done, "ci95": [low, high]}


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for a binomial proportion."""
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
