"""`certify sweep-report DIR`: DIR/report.md and plots from DIR/results.sqlite alone (nothing is re-run)."""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
from collections import defaultdict

REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "paper_reference.json")


def load_rows(path: str) -> list[dict]:
    """Every row of the runs table of a sweep's store (read-only)."""
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file (run certify sweep --out DIR first)")
    from urllib.parse import quote

    uri = f"file:{quote(os.path.abspath(path))}?mode=ro"
    # A WAL store is read with its -shm index beside it, which a read-only folder cannot hold: there the store is
    # read as immutable (nothing can write it either, so nothing changes it while it is read).
    read_only = not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK) or not os.access(path, os.W_OK)
    for attempt in ((uri + "&immutable=1",) if read_only else (uri, uri + "&immutable=1")):
        conn = sqlite3.connect(attempt, uri=True)
        conn.row_factory = sqlite3.Row
        try:
            rows = [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY k, d_vocab, seed, strategy")]
            break
        except sqlite3.OperationalError as exc:
            if "immutable" not in attempt:
                continue  # the folder cannot take the -shm file after all (e.g. a read-only mount)
            raise ValueError(f"{path}: not a sweep store ({exc})") from None
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{path}: not a sweep store ({exc})") from None
        finally:
            conn.close()
    from generator.sweep import RUN_COLUMNS

    for row in rows:  # a store made before a column was added has none
        for column in RUN_COLUMNS:
            row.setdefault(column.split()[0], None)
    return rows


def true_accuracies(rows: list[dict]) -> dict[str, tuple[float, str]]:
    """Per model: its accuracy and where it comes from. The brute-force certificate's bound where one was
    accepted (the exact accuracy, undecided inputs counted wrong), else the float evaluation."""
    out = {}
    for r in rows:
        if r["model_sha256"] and r["float_accuracy"] is not None:
            out.setdefault(r["model_sha256"], (r["float_accuracy"], f"float {r['float_method']}"))
    for r in rows:
        if r["strategy"] == "brute-force" and r["verdict"] == "accepted":
            out[r["model_sha256"]] = (r["bound"], "brute force (exact)")
    return out


def _mean_sd(values: list[float]) -> tuple[float, float] | None:
    if not values:
        return None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _fmt(ms, digits: int = 4) -> str:
    return "—" if ms is None else f"{ms[0]:.{digits}f} ± {ms[1]:.{digits}f}"


def summarize(rows: list[dict]) -> dict[str, dict]:
    """Per config: true accuracy, and per strategy the normalized bound, proof length and times."""
    truth = true_accuracies(rows)
    by_config: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_config[r["config"]].append(r)
    out = {}
    for config, sel in sorted(by_config.items(), key=lambda kv: tuple(map(int, kv[0].split("x")))):
        models = {r["model_sha256"]: r for r in sel if r["model_sha256"]}
        acc = [truth[s][0] for s in models if s in truth]
        sources = sorted({truth[s][1] for s in models if s in truth})
        strategies = {}
        for name in sorted({r["strategy"] for r in sel}):
            runs = [r for r in sel if r["strategy"] == name]
            ok = [r for r in runs if r["verdict"] == "accepted" and truth.get(r["model_sha256"], (0,))[0] > 0]
            strategies[name] = {
                "accepted": len(ok), "failed": sum(r["verdict"] == "failed" for r in runs),
                "refused": sum(r["verdict"] == "refused" for r in runs),
                "rejected": sum(r["verdict"] == "rejected" for r in runs),
                "normalized": _mean_sd([r["bound"] / truth[r["model_sha256"]][0] for r in ok]),
                "bound": _mean_sd([r["bound"] for r in ok]),
                "proof_length": statistics.median([r["proof_length"] for r in ok]) if ok else None,
                "complexity_class": ok[0]["complexity_class"] if ok else None,
                "generate_s": _mean_sd([r["generate_s"] for r in ok]), "check_s": _mean_sd([r["check_s"] for r in ok]),
                "cpu_s": _mean_sd([r["prove_cpu_s"] for r in ok if r["prove_cpu_s"] is not None]),
                "estimate": next((r.get("estimated_work") or r.get("estimated_proof_length")  # the latter: older stores
                                  for r in runs if r["verdict"] == "refused"), None),
                "errors": sorted({r["error"] for r in runs if r["verdict"] in ("failed", "rejected") and r["error"]}),
            }
        model_rows = list(models.values())
        per_seed_s = [r["train_s"] + r["eval_s"] + sum((x["generate_s"] or 0) + (x["check_s"] or 0)
                                                        for x in sel if x["model_sha256"] == r["model_sha256"])
                      for r in model_rows]
        out[config] = {"seeds": len(models), "true_accuracy": _mean_sd(acc), "truth_sources": sources,
                       "strategies": strategies, "train_s": _mean_sd([r["train_s"] for r in model_rows]),
                       "eval_s": _mean_sd([r["eval_s"] for r in model_rows]), "per_seed_s": _mean_sd(per_seed_s),
                       "train_cpu_s": _mean_sd([r["train_cpu_s"] for r in model_rows if r["train_cpu_s"] is not None]),
                       "eval_cpu_s": _mean_sd([r["eval_cpu_s"] for r in model_rows if r["eval_cpu_s"] is not None])}
    return out


def _best(rows: list[dict], truth: dict, pick) -> dict[str, list[float]]:
    """Per config: for each model, the best normalized bound over accepted rows that pick(row) selects."""
    best: dict[tuple[str, str], float] = {}
    for r in rows:
        if r["verdict"] == "accepted" and pick(r) and truth.get(r["model_sha256"], (0,))[0] > 0:
            key = (r["config"], r["model_sha256"])
            best[key] = max(best.get(key, 0.0), r["bound"] / truth[r["model_sha256"]][0])
    out: dict[str, list[float]] = defaultdict(list)
    for (config, _), value in best.items():
        out[config].append(value)
    return out


def _check_report_folder(folder: str, given: bool) -> None:
    """Raise ValueError (one line) unless the report's files can be written into folder (made if missing)."""
    import tempfile

    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".sweep-report-write-test-"):
            pass
    except OSError as exc:
        hint = "" if given else " (the store is only read: write the report elsewhere with --out FOLDER)"
        raise ValueError(f"cannot write the report into {folder}: {exc.strerror or exc}{hint}") from None


def build_sweep_report(out_dir: str, report_dir: str | None = None) -> str:
    """Write report.md, bound_vs_length.png and normalized_bounds.png into report_dir (default out_dir) from
    out_dir/results.sqlite, which is only read."""
    from generator.sweep import reproduce_command

    rows = load_rows(os.path.join(out_dir, "results.sqlite"))
    if not rows:
        raise ValueError(f"{out_dir}/results.sqlite has no runs yet")
    report_dir = out_dir if report_dir is None else report_dir
    _check_report_folder(report_dir, given=report_dir != out_dir)
    with open(REFERENCE) as f:
        reference = json.load(f)
    truth = true_accuracies(rows)
    summary = summarize(rows)
    best_cubic = _best(rows, truth, lambda r: r["strategy"].startswith("cubic"))
    cubic_class = _best(rows, truth, lambda r: r["complexity_class"] == "cubic")
    best_subcubic = _best(rows, truth, lambda r: r["complexity_class"] == "subcubic")
    lines = ["# The zoo: sweep results", "",
             f"Made by `certify sweep-report` from `results.sqlite` ({len(rows)} rows). Every bound is a certificate's "
             "exact claim, accepted by the checker. *True accuracy* is the brute-force certificate's bound where "
             "brute force ran (exact; inputs the checker could not decide count as wrong), otherwise the float64 "
             "evaluation (sampled, 95% interval in the store). Normalized bound = bound / true accuracy, mean ± sd "
             "over seeds.", "",
             "## Against the paper", "",
             f"Reference: {reference['source']}", "",
             "| config | seeds | true accuracy (ours) | (paper) | cubic schema, best variant / true (ours) "
             "| cubic class only (ours) | cubic / true (paper) | best subcubic / true (ours) | (paper) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for config, s in summary.items():
        ref = reference["configs"].get(config)
        ref_fmt = (lambda key: "—" if ref is None else _fmt(ref[key]) if key in ref else "not published")
        lines.append(f"| {config} | {s['seeds']} | {_fmt(s['true_accuracy'])} | {ref_fmt('true_accuracy')} "
                     f"| {_fmt(_mean_sd(best_cubic.get(config, [])))} | {_fmt(_mean_sd(cubic_class.get(config, [])))} "
                     f"| {ref_fmt('cubic')} | {_fmt(_mean_sd(best_subcubic.get(config, [])))} "
                     f"| {ref_fmt('best_subcubic')} |")
    lines += ["", "The cubic schema's variants differ in complexity class: `direct_path=separate` (V^3 K log K) "
              "and `top-outputs` (V^3 K log K (top_outputs + 1)) are cubic, `joint` (the default) and `per-output` "
              "are quartic; the *cubic class only* column "
              "keeps the cubic-class certificates. *Best subcubic* is, per model, the best accepted certificate of "
              "complexity class subcubic.", ""]
    for config, s in summary.items():
        lines += [f"## {config}", "",
                  f"{s['seeds']} seeds. True accuracy {_fmt(s['true_accuracy'])} ({', '.join(s['truth_sources'])}). "
                  f"Per seed, wall seconds in one worker process: training {_fmt(s['train_s'], 1)}, float evaluation "
                  f"{_fmt(s['eval_s'], 1)}, all stages {_fmt(s['per_seed_s'], 1)}. CPU seconds of the worker "
                  f"(where recorded): training {_fmt(s['train_cpu_s'], 1)}, float evaluation "
                  f"{_fmt(s['eval_cpu_s'], 1)}.", "",
                  "| strategy | class | accepted | refused | failed | bound / true | bound | median proof length "
                  "| generate s | check s | CPU s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, st in s["strategies"].items():
            length = f"{st['proof_length']:.3g}" if st["proof_length"] else (
                f"(estimate {st['estimate']:.3g})" if st["estimate"] else "—")
            lines.append(f"| {name} | {st['complexity_class'] or '—'} | {st['accepted']} | {st['refused']} "
                         f"| {st['failed'] + st['rejected']} | {_fmt(st['normalized'])} | {_fmt(st['bound'])} "
                         f"| {length} | {_fmt(st['generate_s'], 2)} | {_fmt(st['check_s'], 2)} | {_fmt(st['cpu_s'], 2)} |")
        notes = [f"- {name}: {err}" for name, st in s["strategies"].items() for err in st["errors"][:3]]
        refused = [f"- {name}: refused before starting"
                   + (f", estimated check work {st['estimate']:.3g} operations" if st["estimate"] else "")
                   for name, st in s["strategies"].items() if st["refused"]]
        if notes or refused:
            lines += ["", *refused, *notes]
        lines.append("")
    example = next(r for r in rows if r["verdict"] == "accepted") if any(r["verdict"] == "accepted" for r in rows) \
        else rows[0]
    lines += ["## Reproducing a row", "",
              "Training is deterministic (bit-identical weights for the same config and seed on every x86-64 CPU, "
              "and per device type on CUDA), so a row is reproduced from its columns alone. Rows with no "
              "`train_arithmetic` were trained before the portable arithmetic, with the CPU's own kernels: their "
              "weights are in `models/` beside the store (checked against the rows' `model_sha256`), and their "
              "command starts from them. Run in this folder; e.g. the row "
              f"({example['config']}, seed {example['seed']}, {example['strategy']}):", "",
              f"    {reproduce_command(example)}", "",
              "`python -c \"import sqlite3; from generator.sweep import reproduce_command; "
              "c = sqlite3.connect('results.sqlite'); c.row_factory = sqlite3.Row; "
              "[print(reproduce_command(r)) for r in c.execute('SELECT * FROM runs')]\"` prints the command of "
              "every row.", "",
              "![normalized bound against proof length](bound_vs_length.png)", "",
              "![normalized bound per strategy](normalized_bounds.png)", ""]
    md = os.path.join(report_dir, "report.md")
    with open(md, "w") as f:
        f.write("\n".join(lines))
    _plot_frontier(rows, truth, os.path.join(report_dir, "bound_vs_length.png"))
    _plot_distributions(rows, truth, os.path.join(report_dir, "normalized_bounds.png"), reference["configs"])
    return md


def _normalized(rows, truth, config):
    return [(r, r["bound"] / truth[r["model_sha256"]][0]) for r in rows
            if r["config"] == config and r["verdict"] == "accepted" and truth.get(r["model_sha256"], (0,))[0] > 0]


def _configs(rows) -> list[str]:
    return sorted({r["config"] for r in rows if r["verdict"] == "accepted"}, key=lambda c: tuple(map(int, c.split("x"))))


def _grid(n: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, max(1, n))
    nrows = (n + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.6 * cols, 3.6 * nrows + 1.0), squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return plt, fig, axes


def _limit_to_one(values: list[float]) -> tuple[float, float]:
    """Axis limits for normalized bounds: the data with a small margin, and never more than a sliver above 1.0 (a
    bound is at most the true accuracy; only a sampled float accuracy can put a point above 1, and then the axis
    shows it)."""
    lo, hi = min(values), max(values)
    pad = 0.03 * (hi - lo) if hi > lo else 0.01
    top = hi + pad if hi > 1.0 else min(hi + pad, 1.0 + min(pad, 0.004))
    return lo - pad, top


def _short(x: float) -> str:
    """A tick label: 1e+07 as 1e7, 125000 as 1.25e5."""
    text = f"{x:.3g}"
    if "e" not in text:  # small numbers print plainly
        return text
    mantissa, exponent = text.split("e")
    return f"{mantissa}e{int(exponent)}"


def _log_ticks(ax, lengths: list[float]) -> None:
    """Proof-length axis (log scale) with a few labels that never overlap: powers of ten where the data spans two
    decades or more; else 1, 2 and 5 times powers of ten in the range, or (less than a decade) a few round values.
    Minor ticks stay unlabelled."""
    import math

    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    ax.set_xscale("log")
    lo, hi = min(lengths), max(lengths)
    if hi == lo:
        lo, hi = lo / 1.5, hi * 1.5
    margin = (hi / lo) ** 0.05
    ax.set_xlim(lo / margin, hi * margin)
    lo, hi = lo / margin, hi * margin
    if hi >= 100 * lo:
        ax.xaxis.set_major_locator(LogLocator(base=10, numticks=6))
    else:
        ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
                 for m in (1, 2, 5) if lo <= m * 10.0 ** e <= hi]
        if len(ticks) < 3:
            ticks = [t for t in MaxNLocator(nbins=3, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi) if lo <= t <= hi]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: _short(x)))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="x", labelsize=8)


def _plot_frontier(rows, truth, path: str) -> None:
    _save(_frontier_figure(rows, truth), path)


def _plot_distributions(rows, truth, path: str, reference: dict | None = None) -> None:
    _save(_distributions_figure(rows, truth, reference), path)


def _suptitle(fig, first: str, second: str) -> None:
    """The figure's title on one line, or on two where the figure is one panel wide."""
    fig.suptitle(f"{first} {second}" if fig.get_figwidth() > 6 else f"{first}\n{second}",
                 fontsize=12 if fig.get_figwidth() > 6 else 10)


def _save(fig, path: str) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)


def _frontier_figure(rows, truth):
    """Per config: normalized bound against proof length, every seed, with the Pareto frontier (the best
    normalized bound reached at or below each proof length, over all seeds) where it has a step to draw. The
    legend names what is drawn."""
    from matplotlib.ticker import MaxNLocator

    configs = _configs(rows)
    strategies = sorted({r["strategy"] for r in rows if r["verdict"] == "accepted"})
    plt, fig, axes = _grid(len(configs))
    drawn, frontier_drawn = set(), False
    for ax, config in zip(axes.flat, configs):
        points = _normalized(rows, truth, config)
        for n, name in enumerate(strategies):
            sel = [(r["proof_length"], v) for r, v in points if r["strategy"] == name]
            if sel:
                ax.scatter(*zip(*sel), s=8, alpha=0.5, color=f"C{n % 10}", label=name)
                drawn.add(name)
        frontier, best = [], -1.0
        for length, value in sorted((r["proof_length"], v) for r, v in points):
            if value > best:
                best = value
                frontier.append((length, value))
        if len(frontier) > 1:
            ax.step(*zip(*frontier), where="post", color="black", linewidth=1, label="Pareto frontier")
            frontier_drawn = True
        if points:
            _log_ticks(ax, [r["proof_length"] for r, _ in points])
            ax.set_ylim(*_limit_to_one([v for _, v in points]))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        ax.set_title(f"{config} (K x d_vocab)", fontsize=10)
        ax.set_xlabel("proof length (checker operations)", fontsize=8)
        ax.set_ylabel("bound / true accuracy", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(True, which="both", alpha=0.3)
    handles = [plt.Line2D([], [], linestyle="", marker="o", color=f"C{n % 10}", label=s)
               for n, s in enumerate(strategies) if s in drawn]
    if frontier_drawn:
        handles.append(plt.Line2D([], [], color="black", label="Pareto frontier (best at or below each length)"))
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8, frameon=False)
    _suptitle(fig, "Normalized certified bound against proof length,", "one point per seed and strategy")
    rows_of_legend = -(-len(handles) // 3)
    fig.tight_layout(rect=(0, (0.2 * rows_of_legend + 0.25) / fig.get_figheight(), 1, 0.96))  # room for the legend
    return fig


# The paper's reference lines, in colours that no box plot element uses (the medians are black).
PAPER_LINES = (("cubic", "tab:red", "paper's cubic / true (mean over 151 seeds)"),
               ("best_subcubic", "tab:blue", "paper's best subcubic / true (mean over 151 seeds)"))


def _distributions_figure(rows, truth, reference: dict | None = None):
    """Per config: the distribution over seeds of each strategy's normalized bound (box: quartiles, black line:
    median), with the paper's mean cubic and best subcubic bounds / true accuracy as dashed lines where published;
    the legend names only the lines drawn."""
    import matplotlib
    from matplotlib.ticker import MaxNLocator

    configs = _configs(rows)
    plt, fig, axes = _grid(len(configs))
    drawn = set()
    for ax, config in zip(axes.flat, configs):
        points = _normalized(rows, truth, config)
        names = sorted({r["strategy"] for r, _ in points})
        data = [[v for r, v in points if r["strategy"] == name] for name in names]
        style = {"medianprops": {"color": "black", "linewidth": 1.5}, "flierprops": {"markersize": 4}}
        if tuple(int(x) for x in matplotlib.__version__.split(".")[:2]) >= (3, 10):
            ax.boxplot(data, orientation="horizontal", **style)
        else:  # older matplotlib names the same thing vert=False
            ax.boxplot(data, vert=False, **style)
        ax.set_yticks(range(1, len(names) + 1), names, fontsize=7)
        ref = (reference or {}).get(config, {})
        values = [v for _, v in points]
        for key, color, _ in PAPER_LINES:
            if key in ref:
                ax.axvline(ref[key][0], color=color, linestyle="--", linewidth=1)
                values.append(ref[key][0])
                drawn.add(key)
        if values:
            ax.set_xlim(*_limit_to_one(values))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))  # a few labels: they never touch
        ax.set_title(f"{config} (K x d_vocab)", fontsize=10)
        ax.set_xlabel("bound / true accuracy", fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(True, axis="x", alpha=0.3)
    handles = [plt.Line2D([], [], color=c, linestyle="--", label=label) for k, c, label in PAPER_LINES if k in drawn]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False)
    _suptitle(fig, "Distribution of each strategy's normalized bound", "across seeds")
    fig.tight_layout(rect=(0, 0.05 if handles else 0, 1, 0.96))
    return fig
