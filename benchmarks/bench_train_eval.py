"""Training time per model and float evaluation time of Max-of-4. Not run by the test suite.

    python benchmarks/bench_train_eval.py [--steps 3000] [--device cpu|cuda] [--configs 4/64,10/128]

Trains each configuration (K/d_vocab, d_model = d_head = 32, seed 123, TrainConfig defaults otherwise) and
reports its wall time and float accuracy, then times generator.evaluate.float_accuracy on the shipped
Max-of-4 model (all 16,777,216 inputs, float32, not a proof).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="training steps per model (default 3000)")
    parser.add_argument("--configs", default="4/64,10/128", help="comma-separated K/d_vocab (default 4/64,10/128)")
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--device", help="torch device (default: cuda when present, else cpu)")
    parser.add_argument("--model", default=os.path.join(ROOT, "models/max4-v64-s123.safetensors"),
                        help="model whose float evaluation is timed")
    args = parser.parse_args()

    import torch

    from checker.model import ModelConfig
    from generator.evaluate import float_accuracy
    from generator.model import pick_device
    from generator.modelio import load_model
    from generator.train import TrainConfig, train

    device = pick_device(args.device)
    print(f"machine: {platform.node()} · {os.cpu_count()} CPUs · torch {torch.__version__} "
          f"({torch.get_num_threads()} threads) · device {device}")
    for item in args.configs.split(","):
        k, v = (int(x) for x in item.split("/"))
        cfg = ModelConfig(d_vocab=v, d_model=32, d_head=32, n_ctx=k)
        tcfg = TrainConfig(seed=args.seed, steps=args.steps)
        start = time.perf_counter()
        params, meta = train(cfg, tcfg, device=str(device), progress=False)
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        acc = float_accuracy(cfg, params, device=str(device), progress=False)
        eval_seconds = time.perf_counter() - start
        print(f"train K={k:<2} d_vocab={v:<3} {tcfg.steps} steps x batch {tcfg.batch_size}: {seconds:7.2f} s "
              f"({1000 * seconds / tcfg.steps:.2f} ms/step), final loss {meta['final_loss']}, "
              f"float accuracy {acc['accuracy']:.6f} ({acc['method']}, {eval_seconds:.1f} s)")

    cfg, params, _ = load_model(args.model)
    start = time.perf_counter()
    result = float_accuracy(cfg, params, device=str(device), progress=False)
    seconds = time.perf_counter() - start
    print(f"float eval {os.path.relpath(args.model, ROOT)}: {seconds:.2f} s for {result['total']:,} inputs "
          f"({result['method']}), accuracy {result['accuracy']:.6f} ({result['correct']}/{result['total']}), "
          f"float32, not a proof")


if __name__ == "__main__":
    main()
