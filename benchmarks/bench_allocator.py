"""The brute-force check of a shipped Max-of-4/64 certificate with and without checker/allocator.py's tuning,
each in a fresh process, in the same run. Not run by the tests.

    python benchmarks/bench_allocator.py [CERT]

Prints user and system CPU seconds of each check (the tuning removes the page faults of numpy's temporaries)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHILD = ("import sys; from checker.allocator import keep_freed_memory\n"
         "if sys.argv[2] == 'tuned': keep_freed_memory()\n"
         "from checker.verify import check_file\n"
         "print(check_file(sys.argv[1]).verdict)")


def main() -> None:
    cert = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "certificates/max4-v64-s123.brute-force.cert")
    times = {}
    for mode in ("tuned", "default"):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([sys.executable, "-c", CHILD, cert, mode], cwd=ROOT, capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times[mode] = (after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime)
        print(f"{mode:>8}: {out.stdout.strip() or out.stderr.strip()[-200:]}, user {times[mode][0]:.2f} s, "
              f"system {times[mode][1]:.2f} s")
    tuned, default = (sum(times[m]) for m in ("tuned", "default"))
    print(f"CPU time ratio tuned / default: {tuned / default:.3f}")


if __name__ == "__main__":
    main()
