"""`certify report`: the checker's bounds (not the claims), failures listed without stopping, files named,
a default output folder that git ignores, and a plot whose parts do not overlap."""

import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction

import pytest
from conftest import ROOT, random_params

pytest.importorskip("torch", reason="certify report needs the generator extra (torch)")
pytest.importorskip("matplotlib", reason="certify report needs the generator extra (matplotlib)")

from checker.model import ModelConfig  # noqa: E402
from checker.verify import check_file  # noqa: E402
from generator.certwriter import write_certificate  # noqa: E402
from generator.generate import build_certificate  # noqa: E402
from generator.modelio import save_model  # noqa: E402

CFG = ModelConfig(d_vocab=6, d_model=4, d_head=4, n_ctx=3)


def _raise_claim(text: str, claim: Fraction) -> str:
    line = next(line for line in text.splitlines() if line.startswith("claim "))
    return text.replace(line, f"claim {claim.numerator}/{claim.denominator}")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """certs/: accepted (two kinds), rejected (claim above the proven bound), rejected (hash), malformed,
    and one for a model that no file in models/ has; models/: one model file twice, under two names."""
    base = tmp_path_factory.mktemp("report")
    certs, models = base / "certs", base / "models"
    certs.mkdir()
    models.mkdir()
    params = random_params(CFG, 21, scale=1.2, bias_scale=0.3)
    save_model(str(models / "m.safetensors"), CFG, params)
    orphan = random_params(CFG, 22)
    save_model(str(models / "other.safetensors"), CFG, random_params(CFG, 23))
    save_model(str(models / "twin-a.safetensors"), CFG, random_params(CFG, 24))
    shutil.copy(models / "twin-a.safetensors", models / "twin-b.safetensors")

    brute, _ = build_certificate(CFG, params, "brute-force", progress=False)
    write_certificate(str(certs / "m.brute-force.cert"), brute)
    cubic, _ = build_certificate(CFG, params, "cubic", {"direct_path": "separate"}, progress=False)
    write_certificate(str(certs / "m.cubic-separate.cert"), cubic)
    assert cubic.claim < 1
    text = (certs / "m.cubic-separate.cert").read_text()
    raised = (cubic.claim + 1) / 2  # above what the checker proves for this witness
    (certs / "m.cubic-raised.cert").write_text(_raise_claim(text, raised))
    (certs / "m.cubic-tampered.cert").write_text(text.replace(brute.sha256, "0" * 64))
    (certs / "garbage.cert").write_text("this is not a certificate {\n")
    lone, _ = build_certificate(CFG, orphan, "cubic", {"direct_path": "separate"}, progress=False)
    write_certificate(str(certs / "orphan.cubic.cert"), lone)
    twin_cfg_params = random_params(CFG, 24)
    twin, _ = build_certificate(CFG, twin_cfg_params, "cubic", {"direct_path": "separate"}, progress=False)
    write_certificate(str(certs / "twin.cubic.cert"), twin)

    out = base / "out"
    p = subprocess.run([sys.executable, "-m", "generator", "report", "--certificates", str(certs),
                        "--models", str(models), "--out", str(out), "--quiet"],
                       capture_output=True, text=True, cwd=ROOT)
    rows = {r["certificate"]: r for r in json.loads((out / "report.json").read_text())} if p.returncode == 0 else {}
    return {"certs": certs, "out": out, "proc": p, "rows": rows, "raised": raised, "cubic": cubic}


def test_report_finishes_and_lists_every_failure(folders):
    p = folders["proc"]
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    assert "7 certificates, 4 accepted, 2 rejected, 1 malformed" in p.stdout
    for name in ("m.cubic-raised.cert", "m.cubic-tampered.cert", "garbage.cert"):
        assert name in p.stderr
    md = (folders["out"] / "report.md").read_text()
    failures = md.split("## Rejected and malformed certificates")[1]
    assert "| garbage.cert | malformed |" in failures
    assert "| m.cubic-raised.cert | rejected | claim" in failures
    assert "| m.cubic-tampered.cert | rejected | weight hash mismatch" in failures
    assert (folders["out"] / "bound_vs_length.png").stat().st_size > 0


def test_bound_column_is_the_checkers_bound_and_the_claim_stands_beside_it(folders):
    rows = folders["rows"]
    for name in ("m.brute-force.cert", "m.cubic-separate.cert", "m.cubic-raised.cert", "orphan.cubic.cert"):
        verdict = check_file(str(folders["certs"] / name))
        assert rows[name]["bound_exact"] == f"{verdict.bound.numerator}/{verdict.bound.denominator}"
        assert rows[name]["claim_exact"] == f"{verdict.claim.numerator}/{verdict.claim.denominator}"
    raised = rows["m.cubic-raised.cert"]
    assert raised["verdict"] == "rejected"
    assert Fraction(raised["claim_exact"]) == folders["raised"]
    assert Fraction(raised["bound_exact"]) == folders["cubic"].claim < folders["raised"]
    assert rows["m.cubic-tampered.cert"]["bound"] is None  # no bound was proven: the weights are not the hash's
    line = next(line for line in (folders["out"] / "report.md").read_text().splitlines()
                if line.startswith("| m.cubic-raised.cert |"))
    assert f"| rejected | {raised['bound']:.6f} | {raised['claim']:.6f} |" in line


def test_model_column_names_the_matching_file_or_says_none_or_several(folders):
    rows = folders["rows"]
    assert rows["m.brute-force.cert"]["model"] == "m.safetensors"
    assert rows["orphan.cubic.cert"]["model"].startswith("none matches")
    assert rows["twin.cubic.cert"]["model"] == "several match: twin-a.safetensors, twin-b.safetensors"
    assert rows["m.brute-force.cert"]["float_accuracy"] is not None
    assert rows["orphan.cubic.cert"]["float_accuracy"] is None


def test_float_accuracy_says_how_it_was_obtained(folders):
    """A model with d_vocab^K inputs few enough is counted exhaustively (K=3 here, not only K=4), and the table
    says so per model; the text never says "exhaustive for K=4, sampled otherwise"."""
    row = folders["rows"]["m.brute-force.cert"]
    assert row["float_method"] == "exhaustive" and row["float_ci95"] is None
    assert row["float_cell"] == f"{row['float_accuracy']:.6f} (all {CFG.d_vocab ** CFG.n_ctx:,})"
    md = (folders["out"] / "report.md").read_text()
    assert "exhaustive for K=4" not in md
    assert "counted over every input for K=3/d_vocab 6" in md and "sampled" not in md.split("| certificate")[0]
    line = next(line for line in md.splitlines() if line.startswith("| m.brute-force.cert |"))
    assert f"| {row['float_cell']} |" in line


def test_a_sampled_float_accuracy_shows_its_interval_and_never_reads_as_exact():
    from generator.report import _float_sentence, float_cell

    entry = {"method": "sampled", "accuracy": 0.99838, "ci95": [0.998194, 0.998547], "samples": 200_000,
             "correct": 199676, "total": 64 ** 10}
    assert float_cell(entry) == "~0.9984 (95% CI 0.9982–0.9985, 200,000 sampled)"
    assert float_cell(entry, bound=0.9990).endswith("200,000 sampled; below the proven bound)")
    assert float_cell(entry, bound=0.9).endswith("200,000 sampled)")
    exact = {"method": "exhaustive", "accuracy": 0.9997, "correct": 16772808, "total": 64 ** 4}
    assert float_cell(exact) == "0.999700 (all 16,777,216)"
    assert float_cell({"accuracy": 0.5}).startswith("~0.5000 (how it was obtained is not recorded")
    assert float_cell(None) == "—"
    rows = [{"K": 10, "d_vocab": 64, "float_method": "sampled", "float_samples": 200_000},
            {"K": 3, "d_vocab": 16, "float_method": "exhaustive", "float_samples": None}]
    text = _float_sentence(rows)
    assert "counted over every input for K=3/d_vocab 16" in text
    assert "estimated from 200,000 uniformly sampled inputs for K=10/d_vocab 64" in text and "95%" in text


def test_a_cached_float_accuracy_without_its_method_is_evaluated_again(tmp_path):
    from checker.model import weights_sha256
    from generator.report import _float_accuracies

    params = random_params(CFG, 31)
    save_model(str(tmp_path / "m.safetensors"), CFG, params)
    sha = weights_sha256(CFG, params)
    cache = tmp_path / "float_accuracy.json"
    cache.write_text(json.dumps({sha: {"accuracy": 0.25}}))
    _, floats = _float_accuracies(str(tmp_path), {sha}, str(cache), progress=False)
    assert floats[sha]["method"] == "exhaustive" and floats[sha]["total"] == CFG.d_vocab ** CFG.n_ctx


def test_default_output_is_ignored_by_git():
    from generator.cli import build_parser

    out = build_parser().parse_args(["report"]).out
    assert not os.path.abspath(out).startswith(os.path.join(ROOT, "docs"))
    if shutil.which("git") is None or not os.path.exists(os.path.join(ROOT, ".git")):
        pytest.skip("not a git checkout")
    p = subprocess.run(["git", "check-ignore", "-q", os.path.join(out, "report.md")], cwd=ROOT)
    assert p.returncode == 0, f"{out}/report.md is not git-ignored"


def _row(K, V, kind, length, bound):
    return {"K": K, "d_vocab": V, "variant": kind, "proof_length": length, "bound": bound}


LONG_KINDS = ["subcubic-direct_path=mean-residual-attention=low-rank-rank=2-near_max=refine-top_outputs=3",
              "branch-and-bound-budget=1e8-by-rate", "cubic-top-outputs", "brute-force"]


@pytest.mark.parametrize("configs, long", [([(4, 64)], False), ([(4, 64), (5, 64)], False),
                                           ([(4, 64), (5, 64), (10, 64), (20, 64)], False),
                                           ([(4, 64)], True), ([(3, 16), (4, 64)], True)])
def test_plot_title_legend_and_labels_do_not_overlap(configs, long):
    import matplotlib.pyplot as plt

    from generator.report import plot_figure

    kinds = ["brute-force", "cubic", "cubic-per-output", "cubic-separate", "subcubic", "subcubic-drop",
             "subcubic-lowrank"]
    if long:  # names as long as the sweep's and the grid's: the legend must still lie inside the figure
        kinds = LONG_KINDS + kinds[1:]
    rows = [_row(K, V, kind, 10.0 ** (3 + n), 0.5 + 0.05 * n) for K, V in configs for n, kind in enumerate(kinds)]
    fig = plot_figure(rows)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        page = fig.bbox
        title = fig._suptitle.get_window_extent(renderer)
        assert page.x0 <= title.x0 and title.x1 <= page.x1 and page.y0 <= title.y0 and title.y1 <= page.y1
        (legend,) = fig.legends
        box = legend.get_window_extent(renderer)
        assert page.y0 <= box.y0 and box.x0 >= page.x0 and box.x1 <= page.x1
        for text in legend.get_texts():  # every label whole inside the figure
            extent = text.get_window_extent(renderer)
            assert page.x0 <= extent.x0 and extent.x1 <= page.x1, text.get_text()
        for ax in fig.axes:
            if not ax.axison:
                continue
            for item in (ax.xaxis.label, ax.title, *ax.get_xticklabels()):
                if item.get_text():
                    assert not box.overlaps(item.get_window_extent(renderer)), item.get_text()
            assert not title.overlaps(ax.title.get_window_extent(renderer))
        markers = [h.get_marker() for h in legend.legend_handles]
        assert len(set(markers)) == len(kinds)
    finally:
        plt.close(fig)


@pytest.mark.parametrize("which", ["no-certs-folder", "empty-certs-folder", "no-models-folder"])
def test_report_bad_folders_are_one_line_errors(tmp_path, which):
    certs, models = tmp_path / "certs", tmp_path / "models"
    if which != "no-certs-folder":
        certs.mkdir()
    if which != "no-models-folder":
        models.mkdir()
    if which == "no-models-folder":
        (certs / "a.cert").write_text("x")
    p = subprocess.run([sys.executable, "-m", "generator", "report", "--certificates", str(certs), "--models",
                        str(models), "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / "out").exists()
