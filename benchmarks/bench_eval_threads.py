"""Float evaluation time against torch's thread count (the default pool versus fewer threads). Not run by the tests.

    python benchmarks/bench_eval_threads.py [--model models/max4-v64-s123.safetensors] [--threads 0,1,2]
        [--rounds 3] [--random-vocab V]

Times generator.evaluate.float_accuracy (exhaustive over all d_vocab^K inputs for Max-of-4/64, float32, not a
proof) per thread count, in one run: the thread counts take turns round after round, so that each sees the same
load; the fastest round of each is printed. 0 means torch's default pool (as many threads as torch picks for
this machine: the baseline). --random-vocab V times a random Max-of-4 model with d_vocab V instead (V^4 inputs).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.path.join(ROOT, "models/max4-v64-s123.safetensors"))
    parser.add_argument("--threads", default="0,1,2", help="comma-separated thread counts; 0: torch's default")
    parser.add_argument("--rounds", type=int, default=1, help="rounds; each runs every thread count once")
    parser.add_argument("--random-vocab", type=int, help="time a random Max-of-4 model with this d_vocab instead")
    args = parser.parse_args()

    import torch

    from generator.evaluate import float_accuracy
    from generator.modelio import load_model

    default_threads = torch.get_num_threads()
    print(f"machine: {platform.node()} · {os.cpu_count()} CPUs · load average {os.getloadavg()[0]:.1f} · "
          f"torch {torch.__version__} (default pool {default_threads} threads)")
    if args.random_vocab:
        import numpy as np

        from checker.model import ModelConfig

        cfg = ModelConfig(d_vocab=args.random_vocab, d_model=32, d_head=32, n_ctx=4)
        rng = np.random.default_rng(0)
        params = {n: rng.standard_normal(s).astype(np.float32) for n, s in cfg.shapes().items()}
    else:
        cfg, params, _ = load_model(args.model)
    counts = [int(t) for t in args.threads.split(",")]
    times: dict[int, list[float]] = {t: [] for t in counts}
    for round_ in range(args.rounds):
        for threads in counts:
            start = time.perf_counter()
            result = float_accuracy(cfg, params, device="cpu", progress=False, threads=threads or default_threads)
            times[threads].append(time.perf_counter() - start)
            label = f"default ({default_threads})" if threads == 0 else str(threads)
            print(f"round {round_ + 1} threads {label:>12}: {times[threads][-1]:7.2f} s for {result['total']:,} "
                  f"inputs ({result['method']}), accuracy {result['accuracy']:.6f}", flush=True)
    results = {t: min(v) for t, v in times.items()}
    print(f"load average now {os.getloadavg()[0]:.1f}")
    for threads, seconds in results.items():
        print(f"threads {threads or f'default ({default_threads})'}: fastest {seconds:.2f} s")
    if 0 in results:
        for threads, seconds in results.items():
            if threads:
                print(f"threads {threads}: {results[0] / seconds:.2f}x the default pool's speed")


if __name__ == "__main__":
    main()
