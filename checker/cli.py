"""`certcheck`: replay certificates with exact arithmetic. Exit 0 accepted, 1 rejected, 2 malformed."""

from __future__ import annotations

import argparse
import json
import sys

from checker import __version__

EXIT = {"accepted": 0, "rejected": 1, "malformed": 2}


def _line(v) -> str:
    if v.verdict == "accepted":
        r = v.result
        return (f"ACCEPTED {v.file}: accuracy >= {v.bound.numerator}/{v.bound.denominator} ({float(v.bound):.6f})"
                f" · {v.schema} · model sha256:{v.model_sha256[:12]}… · proof length {r.proof_length:.3g}"
                f" · {v.seconds:.1f} s")
    word = "REJECTED" if v.verdict == "rejected" else "MALFORMED"
    return f"{word} {v.file}: {v.reason}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="certcheck",
        description="Check compact-proofs certificates with exact arithmetic. Exit status: 0 if every file is "
                    "accepted, 1 if one is rejected (its claim does not follow), 2 if one is malformed or unreadable.")
    parser.add_argument("files", nargs="+", metavar="CERT", help="certificate files (*.cert)")
    parser.add_argument("--json", action="store_true", help="one JSON object per file")
    parser.add_argument("-v", "--verbose", action="store_true", help="also print the proof's statistics")
    parser.add_argument("--version", action="version", version=f"certcheck {__version__}")
    args = parser.parse_args(argv)

    from checker.verify import check_file

    status = 0
    for path in args.files:
        try:
            verdict = check_file(path)
        except KeyboardInterrupt:
            print("certcheck: interrupted", file=sys.stderr)
            return 130
        except MemoryError:
            from checker.verify import Verdict
            verdict = Verdict(path, "malformed", reason="out of memory while checking")
        if args.json:
            print(json.dumps(verdict.to_json()), flush=True)
        else:
            print(_line(verdict), flush=True)
            if args.verbose and verdict.result is not None:
                r = verdict.result
                print(f"  claim {verdict.claim} · {r.complexity_class} ({r.complexity}) · unexplained dimension "
                      f"{r.unexplained_dimension} · {r.details}")
        status = max(status, EXIT[verdict.verdict])
    return status


if __name__ == "__main__":
    sys.exit(main())
