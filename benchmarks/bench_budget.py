"""The budget's calibration: for shipped certificates, the work estimate, the proof length the check reports,
the check's wall time and the rate (proof length per second), in one run.

    python benchmarks/bench_budget.py [CERT ...]      # default: one certificate of each kind
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from checker.budget import DEFAULT_MAX_WORK, Budget, format_size, schema_estimate  # noqa: E402
from checker.certificate import read_certificate  # noqa: E402
from checker.verify import check_certificate  # noqa: E402

DEFAULT = [f"certificates/max4-v64-s123.{kind}.cert" for kind in
           ("brute-force", "cubic", "cubic-separate", "cubic-per-output", "subcubic", "subcubic-lowrank")]
DEFAULT += ["certificates/max20-v64-s123.cubic-per-output.cert", "certificates/max10-v128-s123.subcubic.cert"]


def main() -> None:
    files = sys.argv[1:] or DEFAULT
    print(f"default budget: {DEFAULT_MAX_WORK:.3g} operations")
    print("| certificate | estimate | est. memory | proof length | check s | proof length / s | estimate / s |")
    print("|---|---|---|---|---|---|---|")
    for path in files:
        cert = read_certificate(path)
        work, memory = schema_estimate(cert.schema, cert.schema_version, cert.config, cert.witness)
        start = time.perf_counter()
        v = check_certificate(cert, path, budget=Budget())
        seconds = time.perf_counter() - start
        length = v.result.proof_length if v.result else 0
        print(f"| {os.path.basename(path)} | {work:.3g} | {format_size(memory)} | {length:.3g} | {seconds:.2f} | "
              f"{length / seconds:.3g} | {work / seconds:.3g} |", flush=True)


if __name__ == "__main__":
    main()
