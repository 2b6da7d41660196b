"""Training time, one model alone against a stack of seeds, and the float evaluation against its previous
implementation, each pair in the same run. Not run by the tests.

    python benchmarks/bench_train_eval.py [--steps 3000] [--stack 16] [--model models/max4-v64-s123.safetensors]

Training: generator.train (seed 123 alone, as `certify train`) against generator.train.train_many (seed 123 and
stack - 1 more seeds, as `certify sweep`), per model, on the model's configuration; the stacked seed 123 must have
the same bits as the one trained alone. Float evaluation: generator.evaluate (float64 tables)
against the float32 forward pass over the same inputs (all of them when d_vocab^K <= 2^25). CPU seconds of this
process and its children (torch on one thread), so that other load on the machine counts less than in wall time.
Training in the portable arithmetic (a child process) is also compared with the same training in this process's
native kernels, which give other bits.
"""

from __future__ import annotations

import argparse
import os
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cpu(fn):
    """fn's result and the CPU seconds it took, in this process and its children (training runs in a child)."""
    from generator.train import cpu_seconds

    start = cpu_seconds()
    out = fn()
    return out, cpu_seconds() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="training steps (default 3000)")
    parser.add_argument("--stack", type=int, default=16, help="seeds trained together (default 16)")
    parser.add_argument("--model", default=os.path.join(ROOT, "models/max4-v64-s123.safetensors"))
    args = parser.parse_args()

    import torch

    from checker.allocator import keep_freed_memory
    from generator import evaluate, train
    from generator.model import AttnOnlyTransformer
    from generator.modelio import load_model

    keep_freed_memory()
    torch.set_num_threads(1)
    cfg, params, _ = load_model(args.model)
    tcfg = train.TrainConfig(seed=123, steps=args.steps)
    from checker.model import weights_sha256

    (alone, meta), train_s = _cpu(lambda: train.train(cfg, tcfg, device="cpu", progress=False))
    print(f"train K={cfg.n_ctx} d_vocab={cfg.d_vocab}, {args.steps} steps x batch {tcfg.batch_size}: alone {train_s:.2f} "
          f"CPU-s ({1000 * train_s / args.steps:.2f} ms/step), final loss {meta['final_loss']}")
    torch.use_deterministic_algorithms(True)  # this process's own kernels (AVX2 / AVX-512 where the CPU has them)
    _, native_s = _cpu(lambda: train._train_stack(cfg, [tcfg], torch.device("cpu"), False))
    print(f"  the same training in this process's native kernels ({torch.backends.cpu.get_cpu_capability()}, "
          f"MKL's own dispatch): {native_s:.2f} CPU-s; portable / native = {train_s / native_s:.3f}")
    tcfgs = [tcfg] + [train.TrainConfig(seed=1000 + i, steps=args.steps) for i in range(args.stack - 1)]
    stacked, stack_s = _cpu(lambda: train.train_many(cfg, tcfgs, device="cpu", progress=False))
    same = weights_sha256(cfg, stacked[0][0]) == weights_sha256(cfg, alone)
    print(f"train in a stack of {args.stack}: {stack_s / args.stack:.2f} CPU-s per model, ratio "
          f"{stack_s / args.stack / train_s:.3f} to alone; seed 123 in the stack has the same bits: {same}")

    result, tables_s = _cpu(lambda: evaluate.float_accuracy(cfg, params, device="cpu", progress=False))
    model = AttnOnlyTransformer.from_numpy(cfg, params)

    def forward_count() -> int:
        correct, total = 0, cfg.d_vocab ** cfg.n_ctx
        with torch.no_grad():
            for start in range(0, total, 1 << 18):
                tokens = evaluate.all_sequences(cfg.d_vocab, cfg.n_ctx, start, min(total, start + (1 << 18)))
                logits = model(tokens)
                target = tokens.max(dim=1).values
                correct += int(evaluate._strictly_right(logits, target).sum())
        return correct

    if result["method"] == "exhaustive":
        forward, forward_s = _cpu(forward_count)
        print(f"float eval {os.path.relpath(args.model, ROOT)}, all {result['total']:,} inputs: tables (float64) "
              f"{tables_s:.2f} CPU-s, {result['correct']} correct; float32 forward {forward_s:.2f} CPU-s, {forward} "
              f"correct; ratio {tables_s / forward_s:.3f}")
    else:
        print(f"float eval {os.path.relpath(args.model, ROOT)}: {result['samples']:,} samples, {tables_s:.2f} CPU-s")


if __name__ == "__main__":
    main()
