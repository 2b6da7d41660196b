"""`certify report`: a markdown table and a plot (bound against proof length) of every certificate.

Every number in the `bound` column is the bound the checker proved when the report was made (checker.verify),
never the certificate's own claim, which stands beside it. A certificate that is rejected or malformed does
not stop the report: it is listed with the checker's reason. Nothing is written until every file is checked."""

from __future__ import annotations

import glob
import json
import os
from fractions import Fraction

from checker.certificate import MalformedCertificate, read_certificate
from checker.verify import Verdict, check_certificate

DEFAULT_OUT = os.path.join("out", "report")


def _models_by_hash(models_dir: str) -> dict[str, list[str]]:
    """Weight hash -> the model files (basenames, sorted) in models_dir whose weights hash to it."""
    from checker.model import weights_sha256
    from generator.modelio import ModelFileError, load_model

    out: dict[str, list[str]] = {}
    for path in sorted(glob.glob(os.path.join(models_dir, "*.safetensors"))):
        try:
            cfg, params, _ = load_model(path)
        except ModelFileError:
            continue
        out.setdefault(weights_sha256(cfg, params), []).append(os.path.basename(path))
    return out


def _float_accuracies(models_dir: str, wanted: set[str], cache_path: str, progress: bool
                      ) -> tuple[dict[str, list[str]], dict[str, dict]]:
    """Model files by weight hash, and float accuracies by weight hash: those cached in cache_path plus a new
    evaluation of each hash in `wanted` that a model file in models_dir has."""
    from generator.evaluate import float_accuracy
    from generator.modelio import load_model

    files = _models_by_hash(models_dir)
    try:
        with open(cache_path) as f:
            cache = json.load(f)
    except (OSError, ValueError):  # absent or unreadable: evaluate again
        cache = {}
    stale = {sha for sha, entry in cache.items() if not isinstance(entry, dict) or entry.get("method") not in
             ("exhaustive", "sampled") or (entry["method"] == "sampled" and "ci95" not in entry)}
    for sha in sorted(wanted & files.keys() - (cache.keys() - stale)):  # how each was obtained must be known
        cfg, params, _ = load_model(os.path.join(models_dir, files[sha][0]))
        cache[sha] = float_accuracy(cfg, params, progress=progress, samples=FLOAT_SAMPLES)
    return files, cache


FLOAT_SAMPLES = 200_000  # uniform random inputs for a model with more inputs than float_accuracy enumerates


def float_cell(entry: dict | None, bound: float | None = None) -> str:
    """The `float acc.` cell: an exhaustive count as the accuracy and `(all N)`; a sampled estimate as `~p` with its
    95% interval and sample size, so that it never reads as exact, and a note when it is below the proven bound."""
    if not entry or entry.get("accuracy") is None:
        return "—"
    if entry.get("method") == "exhaustive":
        return f"{entry['accuracy']:.6f} (all {entry['total']:,})"
    if entry.get("method") == "sampled" and entry.get("ci95"):
        lo, hi = entry["ci95"]
        below = "; below the proven bound" if bound is not None and entry["accuracy"] < bound else ""
        return f"~{entry['accuracy']:.4f} (95% CI {lo:.4f}–{hi:.4f}, {entry['samples']:,} sampled{below})"
    return f"~{entry['accuracy']:.4f} (how it was obtained is not recorded)"


def _float_sentence(rows: list[dict]) -> str:
    """How each model's float accuracy was obtained, by configuration (from the evaluations themselves)."""
    by_method: dict[str, set[tuple[int, int]]] = {}
    for r in rows:
        if r.get("float_method"):
            by_method.setdefault(r["float_method"], set()).add((r["K"], r["d_vocab"]))

    def configs(method: str) -> str:
        return ", ".join(f"K={K}/d_vocab {V}" for K, V in sorted(by_method[method]))

    parts = []
    if "exhaustive" in by_method:
        parts.append(f"counted over every input for {configs('exhaustive')}, written `accuracy (all N)`")
    if "sampled" in by_method:
        n = sorted({r["float_samples"] for r in rows if r.get("float_method") == "sampled"})
        parts.append(f"estimated from {', '.join(f'{x:,}' for x in n)} uniformly sampled inputs for "
                     f"{configs('sampled')}, written `~accuracy` with its 95% (Wilson) interval: an estimate, which "
                     "can fall below a proven bound (the bound holds for certain, the estimate only probably)")
    if not parts:
        return "`float acc.` is a float64 evaluation of that model, not a proof."
    return "`float acc.` is a float64 evaluation of that model, not a proof: " + "; ".join(parts) + "."


def model_column(sha: str, files: dict[str, list[str]]) -> str:
    """The model file whose weights hash to sha, or a note when no file or several files do."""
    names = files.get(sha, [])
    if not names:
        return f"none matches (sha256 {sha[:12]}…)"
    if len(names) > 1:
        return "several match: " + ", ".join(names)
    return names[0]


def _check_all(paths: list[str], progress: bool) -> list[tuple[str, object, Verdict]]:
    """(path, parsed certificate or None, checker verdict) for every file; nothing raised for bad files."""
    from tqdm import tqdm

    out = []
    for path in tqdm(paths, desc="checking certificates", disable=not progress, leave=False):
        try:
            cert = read_certificate(path)
        except MalformedCertificate as exc:
            out.append((path, None, Verdict(path, "malformed", reason=str(exc))))
            continue
        except MemoryError:
            out.append((path, None, Verdict(path, "malformed", reason="out of memory while reading")))
            continue
        try:
            verdict = check_certificate(cert, path)
        except MemoryError:
            verdict = Verdict(path, "malformed", reason="out of memory while checking")
        except Exception as exc:  # a checker failure on one file must not lose the others: listed as malformed
            verdict = Verdict(path, "malformed", reason=f"the checker failed: {type(exc).__name__}: {exc}")
        out.append((path, cert, verdict))
    return out


def inputs_fraction(x: Fraction, total: int) -> str:
    """A bound as (inputs) / (all inputs), e.g. 16772808/16777216 rather than the reduced 2096601/2097152, when
    x * total is a whole number of inputs (every bound the checker proves is); else the reduced fraction."""
    from checker.certificate import fraction_text

    return fraction_text(x, total)


def _fraction_text(x: Fraction | None) -> str | None:
    return None if x is None else f"{x.numerator}/{x.denominator}"


def _row(path: str, cert, v: Verdict, files: dict[str, list[str]], floats: dict[str, dict]) -> dict:
    """One certificate's report row (cert is None for a malformed file)."""
    row = {"certificate": os.path.basename(path), "verdict": v.verdict, "reason": v.reason,
           "bound": float(v.bound) if v.bound is not None else None, "bound_exact": _fraction_text(v.bound),
           "claim": float(v.claim) if v.claim is not None else None, "claim_exact": _fraction_text(v.claim),
           "check_s": v.seconds}
    if cert is None:
        return row
    r = v.result
    strategy = cert.schema + "".join(f" {k}={val}" for k, val in cert.witness.items() if isinstance(val, str))
    if "query_basis" in cert.witness:
        strategy += f" rank={len(cert.witness['query_basis'])}"
    row.update({
        "model": model_column(cert.sha256, files), "model_sha256": cert.sha256,
        "variant": _variant_name(os.path.basename(path), cert.schema),
        "K": cert.config.n_ctx, "d_vocab": cert.config.d_vocab, "strategy": strategy,
        "float_accuracy": floats.get(cert.sha256, {}).get("accuracy"),
        "float_method": floats.get(cert.sha256, {}).get("method"),
        "float_ci95": floats.get(cert.sha256, {}).get("ci95"),
        "float_samples": floats.get(cert.sha256, {}).get("samples"),
        "float_cell": float_cell(floats.get(cert.sha256), float(v.bound) if v.bound is not None else None),
        "generation_s": float(cert.meta.get("generation_seconds", "nan")),
        "proof_length": r.proof_length if r else None,
        "complexity": f"{r.complexity_class}: {r.complexity}" if r else "",
        "unexplained_dimension": r.unexplained_dimension if r else None,
    })
    return row


def _num(x, fmt: str) -> str:
    return "—" if x is None else format(x, fmt)


def _markdown(rows: list[dict], certs_dir: str, has_grid: bool) -> str:
    table = [r for r in rows if "K" in r]
    failures = [r for r in rows if r["verdict"] != "accepted"]
    counts = {w: sum(r["verdict"] == w for r in rows) for w in ("accepted", "rejected", "malformed")}
    out = [
        "# Certificates\n",
        f"Every certificate in `{certs_dir}`, re-checked with `certcheck`'s library when this report was made: "
        f"{len(rows)} files, {counts['accepted']} accepted, {counts['rejected']} rejected, {counts['malformed']} "
        "malformed. `bound` is the accuracy lower bound **the checker proved** (exact arithmetic), `claim` the "
        "certificate's own claim; a certificate is accepted when bound >= claim. `model` is the model file whose "
        "weight hash matches the certificate's. " + _float_sentence(table) + "\n",
        "| certificate | model | K | d_vocab | strategy | verdict | bound | claim | float acc. | gen. s | check s "
        "| proof length | complexity | unexplained dim. |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    key = (lambda r: (r["K"], r["d_vocab"], r["model"], -(r["bound"] if r["bound"] is not None else -1),
                      r["certificate"]))
    for r in sorted(table, key=key):
        out.append(f"| {r['certificate']} | {r['model']} | {r['K']} | {r['d_vocab']} | {r['strategy']} "
                   f"| {r['verdict']} | {_num(r['bound'], '.6f')} | {_num(r['claim'], '.6f')} "
                   f"| {r['float_cell']} | {r['generation_s']:.2f} | {r['check_s']:.2f} "
                   f"| {_num(r['proof_length'], '.3g')} | {r['complexity'] or '—'} "
                   f"| {_num(r['unexplained_dimension'], '.3g')} |")
    if failures:
        out += ["", "## Rejected and malformed certificates\n", "| certificate | verdict | reason |", "|---|---|---|"]
        for r in sorted(failures, key=lambda r: r["certificate"]):
            reason = r["reason"].replace("|", "\\|").replace("\n", " ")
            out.append(f"| {r['certificate']} | {r['verdict']} | {reason} |")
    out += ["", "![bound against proof length](bound_vs_length.png)",
            "", "The plot shows the accepted certificates at the bound the checker proved."]
    if has_grid:
        out += ["", "Every subcubic option combination (28 variants) on the Max-of-4/64 models, with the paper's "
                    "reference figures: [subcubic_grid.md](subcubic_grid.md)."]
    return "\n".join(out) + "\n"


def _write_atomic(path: str, data: str | bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.replace(tmp, path)


def build_report(certs_dir: str, models_dir: str, out_dir: str = DEFAULT_OUT, progress: bool = True) -> dict:
    """Check every certificate in certs_dir; write report.md, report.json and bound_vs_length.png to out_dir.

    Returns {"markdown", "json", "plot": paths, "rows": the rows, "counts": verdict -> number of files}."""
    if not os.path.isdir(certs_dir):
        raise ValueError(f"{certs_dir}: not a folder of certificates")
    if not os.path.isdir(models_dir):
        raise ValueError(f"{models_dir}: not a folder of model files")
    paths = sorted(glob.glob(os.path.join(certs_dir, "*.cert")))
    if not paths:
        raise ValueError(f"{certs_dir}: no *.cert files")
    os.makedirs(out_dir, exist_ok=True)
    checked = _check_all(paths, progress)
    cache_path = os.path.join(out_dir, "float_accuracy.json")
    wanted = {cert.sha256 for _, cert, _ in checked if cert is not None}
    files, floats = _float_accuracies(models_dir, wanted, cache_path, progress)
    rows = [_row(path, cert, v, files, floats) for path, cert, v in checked]
    md_text = _markdown(rows, certs_dir, os.path.exists(os.path.join(out_dir, "subcubic_grid.md")))
    png = os.path.join(out_dir, "bound_vs_length.png")
    _plot([r for r in rows if r["verdict"] == "accepted" and r.get("proof_length")], png)
    md, js = os.path.join(out_dir, "report.md"), os.path.join(out_dir, "report.json")
    _write_atomic(js, json.dumps(rows, indent=1) + "\n")
    _write_atomic(cache_path, json.dumps(floats, indent=1, sort_keys=True) + "\n")
    _write_atomic(md, md_text)
    counts = {w: sum(r["verdict"] == w for r in rows) for w in ("accepted", "rejected", "malformed")}
    return {"markdown": md, "json": js, "plot": png, "rows": rows, "counts": counts}


def _variant_name(filename: str, schema: str) -> str:
    """The certificate kind from a file named MODEL.KIND.cert (e.g. cubic-per-output), else the schema."""
    parts = filename.split(".")
    return parts[-2] if len(parts) >= 3 and parts[-1] == "cert" else schema


MARKERS = "osD^v<>ph*XP8dH+x|_1234"  # len(MARKERS) distinct markers before any repeats
COLORS = 10  # matplotlib's default cycle C0..C9


def plot_styles(kinds: list[str]) -> dict[str, tuple[str, str]]:
    """A distinct (marker, colour) pair per certificate kind: markers never repeat below len(MARKERS) kinds."""
    return {kind: (MARKERS[n % len(MARKERS)], f"C{n % COLORS}") for n, kind in enumerate(kinds)}


def _plot(rows: list[dict], path: str) -> None:
    """Write plot_figure(rows) to path (PNG)."""
    import matplotlib.pyplot as plt

    fig = plot_figure(rows)
    try:
        fig.savefig(path + ".tmp.png", dpi=120)
        os.replace(path + ".tmp.png", path)
    finally:
        plt.close(fig)


LEGEND_FONT = 8  # points
LEGEND_MARGIN = 0.4  # inches left free beside the legend


def legend_layout(labels: list[str], width: float, max_cols: int) -> tuple[int, float]:
    """(columns, inches needed) for a figure legend of these labels at LEGEND_FONT: the most columns, up to
    max_cols, whose rows fit in `width` inches, measured from the rendered text (matplotlib fills columns first;
    each entry is its marker, the text and the column spacing). With one column too wide, the width it needs."""
    from matplotlib.textpath import TextPath

    if not labels:
        return 1, 0.0
    em = LEGEND_FONT / 72  # inches
    entry = [TextPath((0, 0), label, size=LEGEND_FONT).get_extents().width / 72 + (2.0 + 0.8) * em
             for label in labels]

    def needed(ncol: int) -> float:
        per_col = -(-len(entry) // ncol)
        columns = [max(entry[i:i + per_col]) for i in range(0, len(entry), per_col)]
        return sum(columns) + 2.0 * em * (len(columns) - 1) + LEGEND_MARGIN

    for ncol in range(min(max_cols, len(labels)), 0, -1):
        if needed(ncol) <= width:
            return ncol, needed(ncol)
    return 1, needed(1)


def plot_figure(rows: list[dict]):
    """One panel per (K, d_vocab): the checker's bound against proof length, one marker per certificate kind.

    The title, the panels and the legend are stacked in their own rows of the figure (a legend below the
    panels, its height from its number of rows), so none overlaps another on any number of panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    configs = sorted({(r["K"], r["d_vocab"]) for r in rows})
    kinds = sorted({r["variant"] for r in rows})
    style = plot_styles(kinds)
    cols = min(3, max(1, len(configs)))
    nrows = max(1, (len(configs) + cols - 1) // cols)
    width = max(5.5, 4.2 * cols)
    legend_cols, legend_width = legend_layout(kinds, width, max_cols=2 * cols)
    width = max(width, legend_width)  # a label wider than the panels widens the figure rather than being cut
    legend_rows = max(1, -(-len(kinds) // legend_cols))
    fig = plt.figure(figsize=(width, 3.4 * nrows + 0.8 + 0.25 * legend_rows), layout="constrained")
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax, (K, V) in zip(axes.flat, configs):
        for kind in kinds:
            sel = [r for r in rows if r["variant"] == kind and (r["K"], r["d_vocab"]) == (K, V)]
            if sel:
                marker, color = style[kind]
                ax.scatter([r["proof_length"] for r in sel], [r["bound"] for r in sel], marker=marker, color=color,
                           alpha=0.8, label=kind)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.tick_params(labelsize=8)
        ax.set_title(f"Max-of-{K}, d_vocab {V}", fontsize=10)
        ax.set_xlabel("proof length (checker operations)", fontsize=8)
        ax.set_ylabel("proven accuracy bound", fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(configs):]:
        ax.axis("off")
    handles = [plt.Line2D([], [], linestyle="", marker=style[k][0], color=style[k][1], label=k) for k in kinds]
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=legend_cols, fontsize=8, frameon=False)
    fig.suptitle("Proven bound against proof length\n(accepted certificates, one point per model and kind)",
                 fontsize=11)
    return fig


# --- `make demo`'s last words: what was proved, in a sentence -------------------------------------------------

def proved_summary(model_path: str, cert_paths: list[str]) -> list[str]:
    """Lines saying what certificates that certcheck has just accepted prove about a model file: each one's
    claim as correct inputs / all inputs, then one plain sentence with the tightest. Reads the certificates'
    claims only (certcheck's acceptance, bound >= claim, is what makes them proved); raises ValueError if a
    certificate speaks about other weights than the model file's."""
    from checker.model import read_model_sha256

    sha = read_model_sha256(model_path)
    certs = [(path, read_certificate(path)) for path in cert_paths]
    for path, cert in certs:
        if cert.sha256 != sha:
            raise ValueError(f"{path} is about weights with sha256 {cert.sha256[:12]}…, not those of {model_path} "
                             f"({sha[:12]}…)")
    if not certs:
        raise ValueError("no certificates")
    cfg = certs[0][1].config
    V, K, total = cfg.d_vocab, cfg.n_ctx, cfg.d_vocab ** cfg.n_ctx
    width = max(len(path) for path, _ in certs)
    lines = ["What was proved (certcheck accepted every certificate, so each claim below holds):"]
    for path, cert in sorted(certs, key=lambda pc: pc[1].claim):
        lines.append(f"  {path:<{width}}  accuracy >= {inputs_fraction(cert.claim, total)} "
                     f"({float(cert.claim):.6f})  {cert.schema}")
    path, best = max(certs, key=lambda pc: pc[1].claim)
    correct = best.claim * total
    at_least = (f"at least {correct.numerator} of them" if correct.denominator == 1
                else f"at least a fraction {best.claim} of them")
    lines.append(f"In words: on every one of the {V}^{K} = {total} possible inputs ({K} tokens from 0..{V - 1}), the "
                 f"model in {model_path} (weights sha256 {sha[:12]}…) outputs the largest token for {at_least} "
                 f"(accuracy >= {float(best.claim):.6f}), proved by the {best.schema} certificate {path} and "
                 f"checked by certcheck with exact arithmetic.")
    return lines


def main(argv: list[str] | None = None) -> int:
    """`python -m generator.report --proved MODEL CERT...`: print proved_summary (make demo's last step, run
    after certcheck has accepted the certificates)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m generator.report",
                                     description="Say in a sentence what certificates accepted by certcheck prove.")
    parser.add_argument("--proved", metavar="MODEL", required=True, help="the model file the certificates are about")
    parser.add_argument("certificates", nargs="+", metavar="CERT")
    args = parser.parse_args(argv)
    try:
        lines = proved_summary(args.proved, args.certificates)
    except (ValueError, OSError, MalformedCertificate) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
