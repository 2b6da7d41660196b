"""`certify report`: a markdown table and a plot (bound against proof length) of every certificate."""

from __future__ import annotations

import glob
import json
import os

from checker.certificate import MalformedCertificate, read_certificate
from checker.verify import check_file


def _float_accuracies(models_dir: str, cache_path: str, progress: bool) -> dict[str, dict]:
    """Float accuracy of every model file, keyed by weight hash (cached in cache_path)."""
    from checker.model import weights_sha256
    from generator.evaluate import float_accuracy
    from generator.modelio import ModelFileError, load_model

    cache = json.load(open(cache_path)) if os.path.exists(cache_path) else {}
    out = {}
    for path in sorted(glob.glob(os.path.join(models_dir, "*.safetensors"))):
        try:
            cfg, params, _ = load_model(path)
        except ModelFileError:
            continue
        sha = weights_sha256(cfg, params)
        if sha not in cache:
            cache[sha] = float_accuracy(cfg, params, progress=progress, samples=200_000)
        out[sha] = dict(cache[sha], model=os.path.basename(path))
    with open(cache_path, "w") as f:
        json.dump(cache, f, indent=1, sort_keys=True)
    return out


def build_report(certs_dir: str, models_dir: str, out_dir: str, progress: bool = True) -> tuple[str, str]:
    """Check every certificate in certs_dir, write report.md and bound_vs_length.png to out_dir."""
    from tqdm import tqdm

    os.makedirs(out_dir, exist_ok=True)
    floats = _float_accuracies(models_dir, os.path.join(out_dir, "float_accuracy.json"), progress)
    rows = []
    for path in tqdm(sorted(glob.glob(os.path.join(certs_dir, "*.cert"))), desc="checking", disable=not progress):
        try:
            cert = read_certificate(path)
        except MalformedCertificate:
            continue
        v = check_file(path)
        r = v.result
        fa = floats.get(cert.sha256, {})
        rows.append({
            "certificate": os.path.basename(path), "model": fa.get("model", cert.sha256[:12]),
            "variant": _variant_name(os.path.basename(path), cert.schema),
            "K": cert.config.n_ctx, "d_vocab": cert.config.d_vocab,
            "strategy": cert.schema + "".join(f" {k}={val}" for k, val in cert.witness.items()
                                              if isinstance(val, str))
            + (f" rank={len(cert.witness['query_basis'])}" if "query_basis" in cert.witness else ""),
            "verdict": v.verdict, "bound": float(cert.claim), "float_accuracy": fa.get("accuracy"),
            "generation_s": float(cert.meta.get("generation_seconds", "nan")), "check_s": v.seconds,
            "proof_length": r.proof_length if r else None, "complexity": f"{r.complexity_class}: {r.complexity}" if r else "",
            "unexplained_dimension": r.unexplained_dimension if r else None,
        })
    md = os.path.join(out_dir, "report.md")
    with open(md, "w") as f:
        f.write("# Certificates\n\nEvery certificate in `" + certs_dir + "`, re-checked by `certcheck` when this report "
                "was made. `bound` is the certified (exact) accuracy lower bound; `float acc.` is a float32 "
                "evaluation of the model (exhaustive for K=4, sampled otherwise), not a proof.\n\n")
        f.write("| model | K | d_vocab | strategy | verdict | bound | float acc. | gen. s | check s | proof length "
                "| complexity | unexplained dim. |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
        for r in sorted(rows, key=lambda r: (r["K"], r["d_vocab"], r["model"], -r["bound"])):
            fa = f"{r['float_accuracy']:.6f}" if r["float_accuracy"] is not None else "—"
            f.write(f"| {r['model']} | {r['K']} | {r['d_vocab']} | {r['strategy']} | {r['verdict']} | {r['bound']:.6f} "
                    f"| {fa} | {r['generation_s']:.2f} | {r['check_s']:.2f} | {r['proof_length']:.3g} "
                    f"| {r['complexity']} | {r['unexplained_dimension']:.3g} |\n")
        f.write("\n![bound against proof length](bound_vs_length.png)\n")
        if os.path.exists(os.path.join(out_dir, "subcubic_grid.md")):
            f.write("\nEvery subcubic option combination (28 variants) on the Max-of-4/64 models, with the paper's "
                    "reference figures: [subcubic_grid.md](subcubic_grid.md).\n")
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(rows, f, indent=1)
    png = os.path.join(out_dir, "bound_vs_length.png")
    _plot(rows, png)
    return md, png


def _variant_name(filename: str, schema: str) -> str:
    """The certificate kind from a file named MODEL.KIND.cert (e.g. cubic-per-output), else the schema."""
    parts = filename.split(".")
    return parts[-2] if len(parts) >= 3 and parts[-1] == "cert" else schema


def _plot(rows: list[dict], path: str) -> None:
    """One panel per (K, d_vocab): certified bound against proof length, one marker per certificate kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    configs = sorted({(r["K"], r["d_vocab"]) for r in rows if r["proof_length"]})
    strategies = sorted({r["variant"] for r in rows})
    style = {s: ("osD^v<>ph*"[n % 10], f"C{n % 10}") for n, s in enumerate(strategies)}
    cols = min(3, max(1, len(configs)))
    nrows = (len(configs) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.4 * nrows + 1.2), squeeze=False)
    for ax, (K, V) in zip(axes.flat, configs):
        for strategy in strategies:
            sel = [r for r in rows if r["variant"] == strategy and (r["K"], r["d_vocab"]) == (K, V)
                   and r["proof_length"]]
            if sel:
                marker, color = style[strategy]
                ax.scatter([r["proof_length"] for r in sel], [r["bound"] for r in sel], marker=marker, color=color,
                           alpha=0.8, label=strategy)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.tick_params(labelsize=8)
        ax.set_title(f"Max-of-{K}, d_vocab {V}", fontsize=10)
        ax.set_xlabel("proof length (checker operations)", fontsize=8)
        ax.set_ylabel("certified accuracy bound", fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(configs):]:
        ax.axis("off")
    handles = [plt.Line2D([], [], linestyle="", marker=style[s][0], color=style[s][1], label=s) for s in strategies]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle("Certified bound against proof length (one point per model and strategy)")
    fig.tight_layout(rect=(0, 0.12 if len(strategies) > 2 else 0.06, 1, 0.97))
    fig.savefig(path, dpi=120)
    plt.close(fig)
