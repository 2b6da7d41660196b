"""`certify`: train models, evaluate them in float, and generate certificates."""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import sys
import warnings

from generator import __version__

GENERATOR_EXTRA = ("torch", "tqdm")  # what `pip install '.[generator]'` (in a checkout) adds for these commands
NEEDS = {"train": GENERATOR_EXTRA, "eval": GENERATOR_EXTRA, "generate": GENERATOR_EXTRA,
         "report": GENERATOR_EXTRA + ("matplotlib",)}  # subcommand -> modules it cannot run without


def _missing_modules(names: tuple[str, ...]) -> list[str]:
    """The modules in names that cannot be imported here."""
    import importlib

    missing = []
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def _extra_message(command: str, missing: list[str]) -> str:
    return (f"certify {command} needs the generator extra ({', '.join(missing)} not installed): run "
            "pip install '.[generator]' in the project's checkout (certcheck, export-lean and export-coq work "
            "without it)")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line, `certify: warning: ...`."""
    print(f"certify: warning: {message}", file=sys.stderr)


def _check_writable(path: str) -> None:
    """Raise ValueError (one line) unless a file can be written at path, so that work is not lost at the end."""
    import os
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"-o {path}: is a folder; name the file to write")
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".certify-write-test-"):
            pass
        if os.path.exists(path):
            with open(path, "ab"):
                pass
    except OSError as exc:
        raise ValueError(f"-o {path}: cannot write there ({exc.strerror})") from None


def _cmd_train(args: argparse.Namespace) -> int:
    from checker.model import ModelConfig
    from generator.modelio import save_model
    from generator.train import TrainConfig, train

    if not args.output.endswith(".safetensors"):
        raise ValueError(f"-o {args.output}: certify writes safetensors model files; name it *.safetensors")
    for name in ("k", "d_model", "d_head", "steps", "batch_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    if args.d_vocab < 2:
        raise ValueError("--d-vocab must be at least 2 (with one token every input's maximum is that token)")
    if not (args.lr > 0 and math.isfinite(args.lr)) or not (args.weight_decay >= 0 and math.isfinite(args.weight_decay)):
        raise ValueError("--lr must be a positive number and --weight-decay a non-negative one")
    _check_writable(args.output)
    cfg = ModelConfig(args.d_vocab, args.d_model, args.d_head, args.k)
    tcfg = TrainConfig(seed=args.seed, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                       weight_decay=args.weight_decay)
    params, meta = train(cfg, tcfg, device=args.device, progress=not args.quiet)
    save_model(args.output, cfg, params, meta)
    print(f"wrote {args.output} (K={cfg.n_ctx}, d_vocab={cfg.d_vocab}, seed={args.seed}, "
          f"{meta['train_seconds']} s, final loss {meta['final_loss']}, arithmetic {meta['train_arithmetic']})")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from generator.evaluate import DEFAULT_SAMPLES, EXHAUSTIVE_LIMIT, float_accuracy
    from generator.modelio import load_model

    if args.threads < 1:
        raise ValueError("--threads must be at least 1")
    if args.samples is not None and args.samples < 1:
        raise ValueError("--samples must be at least 1")
    cfg, params, _ = load_model(args.model)
    from checker.budget import budget_from_args

    total = cfg.d_vocab ** cfg.n_ctx
    if args.samples is not None and total <= EXHAUSTIVE_LIMIT:
        print(f"certify: warning: --samples {args.samples} ignored: all {total:,} inputs are evaluated exactly "
              f"(exhaustive up to {EXHAUSTIVE_LIMIT:,} inputs)", file=sys.stderr)
    samples = DEFAULT_SAMPLES if args.samples is None else args.samples
    batch = _eval_batch(cfg, samples, budget_from_args(args))  # refuses (OverBudget) above the budget
    result = float_accuracy(cfg, params, device=args.device, samples=samples, threads=args.threads,
                            progress=not args.quiet and not args.json, batch=batch)
    result["model"] = args.model
    if args.json:
        print(json.dumps(result))
    elif result["method"] == "exhaustive":
        print(f"{args.model}: float accuracy {result['accuracy']:.6f} ({result['correct']}/{result['total']}, "
              f"all inputs) -- float64 evaluation, not a proof")
    else:
        lo, hi = result["ci95"]
        print(f"{args.model}: float accuracy ~{result['accuracy']:.6f} (95% CI {lo:.6f}-{hi:.6f}, "
              f"{result['samples']} sampled of {result['total']:.3g}) -- float64 estimate, not a proof")
    return 0


FLOAT_OPS_PER_WORK = 20  # torch float64 operations per unit of checker work (vectorised float vs exact/rigorous)


def _eval_batch(cfg, samples: int, budget) -> int:
    """The batch size for `certify eval` that keeps its memory within the budget; raises OverBudget when the
    evaluation's work (all inputs, or the samples) or even a one-sequence batch does not fit."""
    from checker.budget import BASE_MEMORY, OverBudget
    from generator.evaluate import EXHAUSTIVE_LIMIT, table_bytes, uses_tables

    V, K, m, h = cfg.d_vocab, cfg.n_ctx, cfg.d_model, cfg.d_head
    exhaustive = V ** K <= EXHAUSTIVE_LIMIT
    n = V ** K if exhaustive else samples
    if uses_tables(cfg, n):  # tables, then one table row per position and input
        flops, fixed = K * V * (V * (m + h) + m * h) + n * (2 * K + 3) * V, table_bytes(cfg, exhaustive)
        per_sequence_bytes = 8 * (K + 3) * V + 32 * K
    else:  # the float64 forward pass
        flops, fixed = n * (2 * K * m * h * 3 + 4 * K * h + 2 * m * V + 4 * V), 0
        per_sequence_bytes = 8 * (4 * V + 3 * K * (m + h) + 2 * K) + 16 * K  # activations, logits, tokens
    budget.require(flops // FLOAT_OPS_PER_WORK, BASE_MEMORY + fixed, "this float evaluation")
    batch = min(1 << 12, (budget.max_memory - BASE_MEMORY - fixed) // (2 * per_sequence_bytes))
    if batch < 1:
        raise OverBudget(f"over budget: one sequence of this float evaluation needs about {per_sequence_bytes} "
                         f"bytes beyond the interpreter and its tables (raise the limit with --max-memory SIZE)")
    return int(batch)


def _parse_options(pairs: list[str]) -> dict:
    options = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--option expects NAME=VALUE, got {pair!r}")
        name, value = pair.split("=", 1)
        options[name.strip()] = value.strip()
    return options


def _cmd_export(args: argparse.Namespace) -> int:
    """Estimate the export (and coqc's check of its file) from the certificate's header, refuse it over the budget
    (exit 2, with the estimate), show progress, write the file, and say what the file proves. Every failure to
    export exits 2: exit 1 is kept for "the claim does not follow", which no export decides."""
    import time

    from checker.budget import budget_from_args
    from checker.certificate import MalformedCertificate, read_certificate
    from generator.export import ExportError, check_output_name, export_file
    from generator.export.estimate import Progress, estimate_export
    from generator.report import inputs_fraction

    budget = budget_from_args(args)
    command = f"certify export-{args.language}"
    progress = Progress(f"{command} {args.certificate}", enabled=not args.quiet)
    start = time.perf_counter()
    try:
        check_output_name(args.output, args.language)
        cert = read_certificate(args.certificate, budget)
        estimate = estimate_export(cert, args.language)
        if estimate is not None and not args.quiet:
            print(f"{command}: estimate: {estimate.summary()}", file=sys.stderr)
        info = export_file(args.certificate, args.output, args.language, prec=args.prec, progress=progress,
                           cert=cert, budget=budget)  # OverBudget (exit 2, with the estimate) before any work
    except MalformedCertificate as exc:
        print(f"certify: error: {args.certificate}: {exc}", file=sys.stderr)
        return 2
    except ExportError as exc:
        print(f"certify: error: {exc}", file=sys.stderr)
        return 2
    finally:
        progress.clear()
    seconds = time.perf_counter() - start
    print(f"wrote {args.output}: {args.language} export of {args.certificate} (fixed point 2^-{info['prec']}, "
          f"{info['bytes']} bytes, {seconds:.1f} s; the check was run in Python before writing)")
    if "count" in info:  # an accuracy_bound file (Coq): say what it proves, against the certificate's claim
        from fractions import Fraction

        total, proved, claimed = info["total"], Fraction(info["claim"]), Fraction(info["certificate_claim"])
        checked = f"the Coq check proves {info['count']} of the {total} inputs correct"
        if proved >= claimed:
            print(f"accuracy_bound proves the certificate's claim, accuracy >= {inputs_fraction(claimed, total)} "
                  f"({float(claimed):.6f}); {checked}")
        else:
            print(f"accuracy_bound proves accuracy >= {inputs_fraction(proved, total)} ({float(proved):.6f}), "
                  f"BELOW the certificate's claim {inputs_fraction(claimed, total)} ({float(claimed):.6f}): "
                  f"{checked} (it is coarser than certcheck, which proves the certificate's claim)")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from generator.certwriter import write_certificate
    from generator.generate import build_certificate
    from generator.modelio import load_model

    from generator.generate import proof_length_budget
    from generator.model import pick_device

    options = _parse_options(args.option)
    if args.budget is not None:
        if args.strategy not in ("auto", "branch-and-bound"):
            raise ValueError("--budget applies to --strategy auto and branch-and-bound")
        options["budget"] = str(args.budget)
    if "budget" in options and args.strategy in ("auto", "branch-and-bound"):
        proof_length_budget(options["budget"])  # before loading the model: nan, inf, 0 are refused (exit 2)
    if args.device:
        pick_device(args.device)  # likewise a device this torch build or machine lacks, whatever the strategy
    cfg, params, _ = load_model(args.model)
    from checker.budget import budget_from_args

    cert, info = build_certificate(cfg, params, args.strategy, options, device=args.device,
                                   progress=not args.quiet, budget=budget_from_args(args))
    for note in info.get("notes", []):
        print(f"certify: warning: {note}", file=sys.stderr)
    write_certificate(args.output, cert)
    from generator.report import inputs_fraction  # correct inputs / all inputs, as certify eval prints them

    claim = inputs_fraction(cert.claim, cfg.d_vocab ** cfg.n_ctx)
    print(f"wrote {args.output}: {info['variant']} certificate, accuracy >= {claim} ({float(cert.claim):.6f}), "
          f"{info['seconds']:.1f} s")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from generator.report import build_report

    out = build_report(args.certificates, args.models, args.out, progress=not args.quiet)
    counts = out["counts"]
    print(f"wrote {out['markdown']}, {out['json']} and {out['plot']}: {sum(counts.values())} certificates, "
          f"{counts['accepted']} accepted, {counts['rejected']} rejected, {counts['malformed']} malformed")
    for row in out["rows"]:
        if row["verdict"] != "accepted":
            print(f"  {row['verdict'].upper()} {row['certificate']}: {row['reason']}", file=sys.stderr)
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from checker.budget import budget_from_args
    from generator.sweep import (LocalExecutor, RayExecutor, parse_configs, parse_seeds, parse_strategies,
                                 run_sweep)

    configs, seeds = parse_configs(args.configs), parse_seeds(args.seeds)
    strategies = parse_strategies(args.strategies)
    for name in ("workers", "steps", "train_stack"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name} must be at least 1")
    if args.executor == "local" and args.ray_address:
        raise ValueError("--ray-address needs --executor ray")
    if not 0 < args.gpus_per_task <= 1:
        raise ValueError("--gpus-per-task must be in (0, 1]")
    import os

    if args.executor == "ray":  # joins (or starts) Ray first: a bad --ray-address leaves no sweep folder behind
        executor = RayExecutor(args.workers, args.ray_address, args.gpus_per_task, quiet=args.quiet)
    else:
        executor = LocalExecutor(args.workers or os.cpu_count() or 1)
    device = args.device
    if device is None and args.executor == "ray" and executor.has_gpu:  # GPUs on the cluster, maybe not here
        device = "cuda"
    interrupted = True
    try:
        os.makedirs(args.out, exist_ok=True)
        summary = run_sweep(args.out, configs, seeds, strategies, executor, device=device, steps=args.steps,
                            retry_failed=args.retry_failed, budget=budget_from_args(args),
                            progress=not args.quiet, command=" ".join(sys.argv), train_stack=args.train_stack)
        interrupted = False
    finally:
        executor.close(interrupted=interrupted)  # Ctrl-C or an error: the workers are stopped, not awaited
    kept = f" ({summary.skipped_failed} of them failed)" if summary.skipped_failed else ""
    print(f"sweep {args.out}: {summary.ran} runs done ({summary.failed} failed), {summary.skipped} skipped as "
          f"finished{kept}, {summary.refused} refused by the cost estimate, {summary.wall_s:.1f} s")
    if summary.failed_rows:
        print(f"sweep: {summary.failed_rows} failed rows remain (their errors are in {args.out}/results.sqlite "
              f"and the sweep report); the same command with --retry-failed runs them again", file=sys.stderr)
        return 1
    return 0


def _cmd_sweep_report(args: argparse.Namespace) -> int:
    from generator.sweep_report import build_sweep_report

    md = build_sweep_report(args.dir, args.out)
    print(f"wrote {md} and its plots")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from checker.budget import add_budget_arguments

    parser = argparse.ArgumentParser(
        prog="certify",
        description="Train Max-of-K transformers and generate accuracy certificates (checked by certcheck).")
    parser.add_argument("--version", action="version", version=f"certify {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "train", help="train a 1-layer attention-only model on Max-of-K",
        description="Train a 1-layer, 1-head, attention-only transformer on Max-of-K (AdamW on uniform random "
                    "sequences, cross-entropy at the last position, as Gross et al. 2024). The weights are a "
                    "function of the options alone: on the CPU training runs in a portable arithmetic (one code "
                    "path and one thread), so any x86-64 CPU gives the same bits; on CUDA, the same bits per device "
                    "type.")
    p.add_argument("--k", type=int, default=4, help="sequence length K (n_ctx) (default 4)")
    p.add_argument("--d-vocab", type=int, default=64, help="vocabulary size, at least 2 (default 64)")
    p.add_argument("--d-model", type=int, default=32, help="residual stream width (default 32)")
    p.add_argument("--d-head", type=int, default=32, help="attention head width (default 32)")
    p.add_argument("--seed", type=int, default=123,
                   help="seeds the initial weights (seed) and the training data (seed + 1) (default 123)")
    p.add_argument("--steps", type=int, default=3000, help="optimiser steps (default 3000)")
    p.add_argument("--batch-size", type=int, default=128, help="random sequences per step (default 128)")
    p.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (default 0.001)")
    p.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay (default 0.01)")
    p.add_argument("--device", help="torch device (default: cuda when present, else cpu)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("-o", "--output", required=True, help="model file to write (.safetensors)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("eval", help="float accuracy of a model over all inputs (or sampled); not a proof")
    p.add_argument("model", help="model file (.safetensors)")
    p.add_argument("--samples", type=int,
                   help="uniform random inputs to sample when there are more than 2^25 inputs (default 1,000,000); "
                        "below that every input is evaluated and --samples is ignored with a warning")
    p.add_argument("--device", help="torch device (default: cuda when present, else cpu)")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch (default 1: fastest measured on a shared 2-core machine, "
                        "benchmarks/bench_eval_threads.py)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_budget_arguments(p)
    p.set_defaults(func=_cmd_eval)

    for lang, ext, proof in (("lean", ".lean", "native_decide"), ("coq", ".v", "vm_compute")):
        p = sub.add_parser(f"export-{lang}", help=f"write a {lang.capitalize()} file that re-proves a certificate's check "
                                                  f"by evaluation ({proof}); see docs/formal-export.md")
        p.add_argument("certificate", help="certificate file (.cert)")
        p.add_argument("-o", "--output", required=True, help=f"file to write ({ext})"
                       + (": a Coq identifier, letters, digits and _" if lang == "coq" else ""))
        p.add_argument("-q", "--quiet", action="store_true",
                       help="no estimate line and no progress display (both on stderr, shown only on a terminal)")
        p.add_argument("--prec", type=int, help="fixed-point bits for exp bounds (default: the smallest that works)")
        add_budget_arguments(p)
        p.set_defaults(func=_cmd_export, language=lang)

    from generator.generate import DEFAULT_STRATEGY, STRATEGIES

    p = sub.add_parser("generate", help="search for a proof and write a certificate (check it with certcheck)")
    p.add_argument("model", help="model file (.safetensors, ours or a plain TransformerLens state dict)")
    p.add_argument("--strategy", choices=STRATEGIES, default=DEFAULT_STRATEGY,
                   help=f"proof strategy (default {DEFAULT_STRATEGY}: the tightest certificate, then the shortest "
                        f"proof, among the subcubic search's variants (all 28 with --budget), the four cubic direct "
                        f"paths, branch-and-bound (with --budget as its limit; without it, exact up to 2^25 inputs and "
                        f"held to a proof length of 1e8 beyond) and brute force (when its proof length "
                        f"fits --budget); a candidate whose estimated work or memory is over --max-work or "
                        f"--max-memory is skipped before it is built)")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="pin a strategy option (repeatable). cubic: direct_path=separate|top-outputs|joint|per-output, "
                        "top_outputs=R (with top-outputs; default 4). "
                        "subcubic (unpinned options are searched, the tightest certificate is written): "
                        "direct_path=mean-residual|query-max, attention=exact|low-rank, rank=R, "
                        "attention_error=entrywise|global, near_max=drop|refine, top_outputs=R (with refine; default 1)")
    p.add_argument("--budget", type=float, help="with --strategy auto or branch-and-bound: the largest proof length "
                                                "allowed, a positive number (default: no limit)")
    p.add_argument("--device", help="torch device for the float search (default: cuda when present, else cpu)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("-o", "--output", required=True, help="certificate file to write (.cert)")
    add_budget_arguments(p)
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser("report", help="table and plot (bound against proof length) of every certificate")
    p.add_argument("--certificates", default="certificates", help="folder of certificates (default: certificates)")
    p.add_argument("--models", default="models", help="folder of model files, for float accuracy (default: models)")
    from generator.report import DEFAULT_OUT as DEFAULT_REPORT_OUT

    p.add_argument("--out", default=DEFAULT_REPORT_OUT,
                   help=f"output folder (default: {DEFAULT_REPORT_OUT}, git-ignored; the shipped report is docs/report)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("sweep", help="the zoo: train, evaluate, generate and check over configs x seeds x strategies "
                                     "(resumable; results in DIR/results.sqlite)")
    p.add_argument("--configs", default="4x64", help="'paper' (the six) or a comma list of KxV, e.g. 4x64,3x8")
    p.add_argument("--seeds", default="paper", help="'paper' (151 seeds), 'paper:N' (the first N) or a comma list")
    p.add_argument("--strategies", help="comma list of NAME[:OPTION=VALUE...], e.g. cubic:direct_path=per-output "
                                        "(default: every strategy but auto, branch-and-bound only where "
                                        "d_vocab^K <= 2^25; one whose estimated check exceeds --max-work or "
                                        "--max-memory is refused, not started)")
    p.add_argument("--out", required=True, help="sweep folder: results.sqlite, models/, certs/")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local process pool (default) or Ray (pip install '.[ray]')")
    p.add_argument("--workers", type=int, help="parallel tasks (default: the number of cores, or the Ray cluster's CPUs)")
    p.add_argument("--ray-address", metavar="HEAD:PORT",
                   help="join an existing Ray cluster (its head node's HOST:PORT, e.g. HEAD:6379, or auto for one on "
                        "this machine) instead of starting a local one; a cluster with token authentication needs "
                        "RAY_AUTH_MODE=token and its RAY_AUTH_TOKEN here too (README, On a Ray cluster). Where no "
                        "cluster answers, the sweep stops within a minute (exit 2)")
    p.add_argument("--gpus-per-task", type=float, default=0.25,
                   help="with Ray and CUDA: the share of a GPU each task asks for (default 0.25)")
    p.add_argument("--device", help="torch device for training and search (default: cuda when present, else cpu)")
    p.add_argument("--steps", type=int, default=3000, help="training steps, as certify train (default 3000)")
    p.add_argument("--train-stack", type=int,
                   help="seeds of a configuration trained together, each to the same bits as alone (default: 16 "
                        "on the CPU, where that is tested; 1 on CUDA)")
    add_budget_arguments(p)
    for action in p._actions:  # a sweep records an over-budget strategy as a refused row and goes on
        if action.dest == "max_work":
            action.help = ("a strategy whose check is estimated above N checker operations is not started: its "
                           f"row is recorded as refused, with the estimate (default {action.default:.3g})")
        elif action.dest == "max_memory":
            action.help = ("likewise for the check's estimated memory above SIZE, e.g. 8G (default "
                           f"{action.default / 2 ** 30:g} GiB)")
    p.add_argument("--retry-failed", action="store_true",
                   help="run failed items again (without it, the sweep exits 1 while any failed row remains)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("sweep-report", help="DIR/report.md and plots from a sweep's results.sqlite")
    p.add_argument("dir", help="sweep folder (holds results.sqlite; only read)")
    p.add_argument("--out", help="folder for report.md and the plots (default: DIR); e.g. for a read-only DIR")
    p.add_argument("-q", "--quiet", action="store_true", help="accepted for uniformity (the report shows no progress)")
    p.set_defaults(func=_cmd_sweep_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    from checker.allocator import keep_freed_memory
    from checker.budget import OverBudget
    from generator.modelio import ModelFileError

    keep_freed_memory()

    args = build_parser().parse_args(argv)
    missing = _missing_modules(NEEDS.get(args.command, ()))
    if missing:
        print(f"certify: error: {_extra_message(args.command, missing)}", file=sys.stderr)
        return 2
    warnings.showwarning = _show_warning
    if not sys.stderr.isatty():  # progress bars go to stderr only when it is a terminal
        args.quiet = True
    try:
        return args.func(args)
    except OverBudget as exc:  # refused before the work, by estimate
        print(f"certify: {exc}", file=sys.stderr)
        return 2
    except ModelFileError as exc:
        print(f"certify: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"certify: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"certify: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:  # a sweep store that is not an SQLite database
        print(f"certify: error: results store: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # e.g. the checker refused a witness the generator built: a generator bug
        print(f"certify: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("certify: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:  # an extra's module imported deeper down
        if exc.name and exc.name.split(".")[0] in GENERATOR_EXTRA + ("matplotlib",):
            print(f"certify: error: {_extra_message(args.command, [exc.name])}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
