"""Training on Max-of-K as in Gross et al. 2024: AdamW, i.i.d. uniform sequences, loss at the last position.

Several seeds of one configuration train at once, as one stack of models (`train_many`): on the 2-core CPU a
stack of 16 costs about a quarter of the time per model of training models one by one, because each step of
these tiny models is mostly fixed overhead. A model's weights do not depend on what else is in its stack:
`certify train` is a stack of one, and `certify sweep` stacks seeds (tests/test_train.py checks the bits).

On the CPU, training runs in the *portable arithmetic* (`PORTABLE_ENV`), so that the weights are the same bits on
every x86-64 CPU (SSE4, AVX2, AVX-512, AMX), whatever the user's thread settings: torch picks its kernels by the
instruction set (`ATEN_CPU_CAPABILITY`), MKL its code path (`MKL_CBWR`), and both split sums by thread. Each is
fixed before torch starts, in a child process with that environment (`_train_in_portable_process`). On CUDA (or
MPS) the bits are those of the device type, as before."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from checker.model import PARAM_NAMES, ModelConfig
from generator.model import AttnOnlyTransformer, pick_device


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 123
    steps: int = 3000
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.01


# The CPU arithmetic that training uses, set in the environment of a child process before torch loads. Each line
# removes one way the same program computes different bits on different machines:
PORTABLE_ENV = {
    "ATEN_CPU_CAPABILITY": "default",  # ATen's baseline (SSE2) kernels, not AVX2 / AVX-512 ones chosen by CPUID
    "MKL_CBWR": "COMPATIBLE",          # MKL's conditional numerical reproducibility: one code path on every CPU
    "MKL_DYNAMIC": "FALSE",
    "MKL_NUM_THREADS": "1",            # one thread: no sum is split by the machine's core count
    "OMP_NUM_THREADS": "1",
    "ONEDNN_MAX_CPU_ISA": "SSE41",     # oneDNN (not used by these operations today) held to one code path too
    # glibc's expf/logf (softmax, cross-entropy) have FMA variants chosen by CPUID: use the baseline ones.
    "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA,-FMA4,-AVX512F",
}
PORTABLE = "portable-cpu"  # the model metadata's train_arithmetic on the CPU; on CUDA or MPS, the device type
_CHILD_MARK = "COMPACT_PROOFS_PORTABLE_TRAINING"  # set in the child: it trains in-process


def train(cfg: ModelConfig, tcfg: TrainConfig, device: str | None = None, progress: bool = True
          ) -> tuple[dict[str, np.ndarray], dict]:
    """Train one model (a stack of one); returns float32 numpy params and a metadata dict."""
    return train_many(cfg, [tcfg], device, progress)[0]


def train_many(cfg: ModelConfig, tcfgs: Sequence[TrainConfig], device: str | None = None, progress: bool = True
               ) -> list[tuple[dict[str, np.ndarray], dict]]:
    """Train one model per TrainConfig (they may differ only in seed), stacked; (params, meta) for each, in order.

    Bit-reproducible for a given (config, seed, torch version, device type), whatever the stack: torch runs
    deterministic algorithms, and each operation of the stack computes every model's slice with the kernel a lone
    model would use (a bmm slice is that model's mm, a row-wise op is row-wise). On the CPU also whatever the
    machine and its thread settings: training runs in the portable arithmetic (module docstring)."""
    if not tcfgs:
        return []
    first = tcfgs[0]
    if any(replace(t, seed=first.seed) != first for t in tcfgs):
        raise ValueError("train_many: the stacked models may differ only in seed")
    dev = pick_device(device)
    if dev.type == "cpu" and os.environ.get(_CHILD_MARK) != "1":
        return _train_in_portable_process(cfg, list(tcfgs), progress)
    if dev.type == "cpu" and torch.backends.cpu.get_cpu_capability() != "DEFAULT":
        raise RuntimeError("portable training: torch did not start with ATEN_CPU_CAPABILITY=default")
    old_threads, old_deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        return _train_stack(cfg, list(tcfgs), dev, progress)
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_deterministic)


def _train_in_portable_process(cfg: ModelConfig, tcfgs: list[TrainConfig], progress: bool
                               ) -> list[tuple[dict[str, np.ndarray], dict]]:
    """train_many on the CPU, run by a child Python whose environment is PORTABLE_ENV (its progress bar on our
    stderr); the weights come back through a temporary .npz file."""
    env = {**os.environ, **PORTABLE_ENV, _CHILD_MARK: "1"}
    if os.environ.get("GLIBC_TUNABLES"):  # keep the user's other tunables
        env["GLIBC_TUNABLES"] = os.environ["GLIBC_TUNABLES"] + ":" + PORTABLE_ENV["GLIBC_TUNABLES"]
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="certify-train-") as tmp:
        out = os.path.join(tmp, "trained.npz")
        spec = {"config": asdict(cfg), "trainings": [asdict(t) for t in tcfgs], "progress": progress, "out": out}
        code = ("import signal; signal.signal(signal.SIGINT, signal.SIG_DFL); "  # Ctrl-C: no traceback from the child
                "from generator.train import _portable_child; _portable_child()")
        child = subprocess.run([sys.executable, "-c", code], input=json.dumps(spec), text=True, env=env,
                               stdout=subprocess.PIPE)
        if child.returncode == -signal.SIGINT:
            raise KeyboardInterrupt
        if child.returncode != 0:
            raise RuntimeError(f"training in the portable arithmetic failed (child exit {child.returncode})")
        metas = json.loads(child.stdout.strip().splitlines()[-1])
        with np.load(out) as arrays:
            return [({n: arrays[f"{i}/{n}"] for n in PARAM_NAMES}, meta) for i, meta in enumerate(metas)]


def cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (portable training runs in a child)."""
    times = os.times()
    return time.process_time() + times.children_user + times.children_system


def _portable_child() -> None:
    """The child of _train_in_portable_process: a spec as JSON on stdin; writes the weights to spec["out"] and
    prints the metadata list as one JSON line."""
    spec = json.loads(sys.stdin.read())
    cfg = ModelConfig(**spec["config"])
    trained = train_many(cfg, [TrainConfig(**t) for t in spec["trainings"]], "cpu", spec["progress"])
    np.savez(spec["out"], **{f"{i}/{n}": params[n] for i, (params, _) in enumerate(trained) for n in PARAM_NAMES})
    print(json.dumps([meta for _, meta in trained]))


def _stacked_logits(cfg: ModelConfig, stack: dict[str, torch.Tensor], tokens: torch.Tensor) -> torch.Tensor:
    """AttnOnlyTransformer.forward for a stack of S models: tokens [S, b, K] -> logits [S, b, V], written with the
    same operations per model (matrix products as bmm over the stack, the einsums with the stack as a batch)."""
    n_models, batch, n_ctx = tokens.shape
    m, h = cfg.d_model, cfg.d_head
    model_index = torch.arange(n_models, device=tokens.device)[:, None, None]
    x = stack["embed.W_E"][model_index, tokens] + stack["pos_embed.W_pos"][:, None]  # [S, b, K, m]
    w_q, w_k, w_v, w_o = (stack[f"blocks.0.attn.W_{n}"][:, 0] for n in "QKVO")
    query = torch.bmm(x[:, :, -1], w_q) + stack["blocks.0.attn.b_Q"][:, 0][:, None]  # [S, b, h]
    # A lone model's `x @ W` folds [b, K, m] to [b K, m], once for the keys and once for the values: two reshapes
    # here too, so that x's gradient sums the same four terms in the same order.
    keys = (torch.bmm(x.reshape(n_models, batch * n_ctx, m), w_k).reshape(n_models, batch, n_ctx, h)
            + stack["blocks.0.attn.b_K"][:, 0][:, None, None])
    values = (torch.bmm(x.reshape(n_models, batch * n_ctx, m), w_v).reshape(n_models, batch, n_ctx, h)
              + stack["blocks.0.attn.b_V"][:, 0][:, None, None])
    scores = torch.einsum("sbh,sbkh->sbk", query, keys) / math.sqrt(h)
    pattern = torch.softmax(scores, dim=-1)
    mixed = torch.einsum("sbk,sbkh->sbh", pattern, values)
    resid = x[:, :, -1] + torch.bmm(mixed, w_o) + stack["blocks.0.attn.b_O"][:, None]
    return torch.bmm(resid, stack["unembed.W_U"]) + stack["unembed.b_U"][:, None]


def _train_stack(cfg: ModelConfig, tcfgs: list[TrainConfig], dev: torch.device, progress: bool
                 ) -> list[tuple[dict[str, np.ndarray], dict]]:
    from tqdm import tqdm

    first = tcfgs[0]
    states = []
    for tcfg in tcfgs:  # each model's initial weights: torch's global generator seeded with its seed
        torch.manual_seed(tcfg.seed)
        states.append(AttnOnlyTransformer(cfg).state_dict())
    trainable = [n for n in PARAM_NAMES if not n.rsplit(".", 1)[1].startswith("b_")]  # biases stay zero, frozen
    stack = {n: torch.stack([s[n] for s in states]).to(dev).requires_grad_(n in trainable) for n in PARAM_NAMES}
    data_gens = [torch.Generator(device="cpu").manual_seed(t.seed + 1) for t in tcfgs]
    opt = torch.optim.AdamW([stack[n] for n in trainable], lr=first.lr, weight_decay=first.weight_decay)
    seeds = [t.seed for t in tcfgs]
    label = f"seed={seeds[0]}" if len(seeds) == 1 else f"{len(seeds)} seeds {seeds[0]}..{seeds[-1]}"
    start = time.perf_counter()
    bar = tqdm(range(first.steps), desc=f"train K={cfg.n_ctx} V={cfg.d_vocab} {label}", disable=not progress,
               leave=False)
    losses = [float("nan")] * len(tcfgs)
    for step in bar:
        tokens = torch.stack([torch.randint(0, cfg.d_vocab, (first.batch_size, cfg.n_ctx), generator=g)
                              for g in data_gens]).to(dev)
        logits = _stacked_logits(cfg, stack, tokens)
        targets = tokens.max(dim=-1).values
        per_input = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
        loss = per_input.view(len(tcfgs), first.batch_size).mean(dim=1).sum()  # each model's gradient: its own mean
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == first.steps - 1:  # each model's loss exactly as a lone model reports it
            with torch.no_grad():
                losses = [F.cross_entropy(logits[i], targets[i]).item() for i in range(len(tcfgs))]
            bar.set_postfix(loss=f"{losses[0]:.4f}")
    seconds = (time.perf_counter() - start) / len(tcfgs)
    out = []
    for i, tcfg in enumerate(tcfgs):
        params = {n: stack[n][i].detach().cpu().numpy().astype(np.float32) for n in PARAM_NAMES}
        meta = {"seed": str(tcfg.seed), "training": asdict(tcfg), "train_seconds": f"{seconds:.2f}",
                "final_loss": f"{losses[i]:.6f}", "train_device": dev.type, "torch_version": torch.__version__,
                "train_arithmetic": PORTABLE if dev.type == "cpu" else dev.type, "train_stack": str(len(tcfgs))}
        out.append((params, meta))
    return out
