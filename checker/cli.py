"""`certcheck`: replay certificates with exact arithmetic. Exit 0 accepted, 1 rejected, 2 malformed or refused."""

from __future__ import annotations

import argparse
import json
import sys

from checker import __version__

EXIT = {"accepted": 0, "rejected": 1, "malformed": 2, "refused": 2}
WORD = {"rejected": "REJECTED", "malformed": "MALFORMED", "refused": "REFUSED"}


def _line(v) -> str:
    from checker.certificate import fraction_text

    if v.verdict == "accepted":
        r = v.result
        return (f"ACCEPTED {v.file}: accuracy >= {fraction_text(v.bound, v.inputs)} ({float(v.bound):.6f})"
                f" · {v.schema} · model sha256:{v.model_sha256[:12]}… · proof length {r.proof_length:.3g}"
                f" · {v.seconds:.1f} s")
    return f"{WORD[v.verdict]} {v.file}: {v.reason}"


class _Progress:
    """A one-line progress display on stderr: `certcheck FILE: done/total`."""

    def __init__(self, file: str):
        self.file = file
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        print(f"\rcertcheck {self.file}: {done}/{total}", end="", file=sys.stderr, flush=True)
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    from checker.allocator import keep_freed_memory
    from checker.budget import add_budget_arguments, budget_from_args

    keep_freed_memory()
    for stream in (sys.stdout, sys.stderr):  # a file name or reason the terminal cannot encode is escaped
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")

    parser = argparse.ArgumentParser(
        prog="certcheck",
        description="Check compact-proofs certificates with exact arithmetic. Exit status: 0 if every file is "
                    "accepted, 1 if one is rejected (its claim does not follow), 2 if one is malformed, unreadable "
                    "or refused (its estimated work or memory is over the budget: nothing was decided).")
    parser.add_argument("files", nargs="+", metavar="CERT", help="certificate files (*.cert)")
    parser.add_argument("--json", action="store_true", help="one JSON object per file")
    parser.add_argument("-v", "--verbose", action="store_true", help="also print the proof's statistics")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress display (shown on stderr only when it is a terminal)")
    parser.add_argument("--model", metavar="M.safetensors",
                        help="also require that each certificate speaks about this model file's weights (by hash)")
    add_budget_arguments(parser)
    parser.add_argument("--version", action="version", version=f"certcheck {__version__}")
    args = parser.parse_args(argv)
    budget = budget_from_args(args)

    from checker.verify import Verdict, check_file

    model_sha256 = None
    if args.model is not None:
        from checker.model import ModelFileError, read_model_sha256

        try:
            model_sha256 = read_model_sha256(args.model)
        except ModelFileError as exc:
            print(f"certcheck: error: {args.model}: {exc}", file=sys.stderr)
            return 2
    show_progress = not args.quiet and not args.json and sys.stderr.isatty()
    status = 0
    for path in args.files:
        progress = _Progress(path) if show_progress else None
        try:
            verdict = check_file(path, budget=budget, progress=progress, model_sha256=model_sha256)
        except KeyboardInterrupt:
            print("certcheck: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:  # a checker bug must not stop the other files, and is never an acceptance
            from checker.certificate import bounded

            verdict = Verdict(path, "malformed", reason=bounded(f"internal error while checking: "
                                                                 f"{type(exc).__name__}: {exc}"))
        finally:
            if progress is not None:
                progress.clear()
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
