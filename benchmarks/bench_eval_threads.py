"""Float evaluation time against torch's thread count (the default pool versus fewer threads). Not run by the tests.

    python benchmarks/bench_eval_threads.py [--model models/max4-v64-s123.safetensors] [--threads 0,1,2]

Times generator.evaluate.float_accuracy (exhaustive over all d_vocab^K inputs for Max-of-4/64, float32, not a
proof) once per thread count, in one run, so that the figures compare on the same load. 0 means torch's
default pool (as many threads as torch picks for this machine, the baseline).
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
    parser.add_argument("--repeat", type=int, default=1, help="runs per thread count (the fastest is printed)")
    args = parser.parse_args()

    import torch

    from generator.evaluate import float_accuracy
    from generator.modelio import load_model

    default_threads = torch.get_num_threads()
    print(f"machine: {platform.node()} · {os.cpu_count()} CPUs · load average {os.getloadavg()[0]:.1f} · "
          f"torch {torch.__version__} (default pool {default_threads} threads)")
    cfg, params, _ = load_model(args.model)
    results = {}
    for threads in (int(t) for t in args.threads.split(",")):
        n = threads or default_threads
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = float_accuracy(cfg, params, device="cpu", progress=False, threads=n)
            times.append(time.perf_counter() - start)
        results[threads] = min(times)
        label = f"default ({n})" if threads == 0 else str(threads)
        print(f"threads {label:>12}: {min(times):7.2f} s for {result['total']:,} inputs ({result['method']}), "
              f"accuracy {result['accuracy']:.6f}", flush=True)
    if 0 in results:
        for threads, seconds in results.items():
            if threads:
                print(f"threads {threads}: {results[0] / seconds:.2f}x the default pool's speed")


if __name__ == "__main__":
    main()
