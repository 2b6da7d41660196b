"""certify sweep: real tiny sweeps (3x8) under both executors, kill-and-resume, failures and --retry-failed."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

pytest.importorskip("torch")

SEEDS = "1,2"
STEPS = "60"
STRATEGIES = "brute-force,cubic,subcubic,auto:budget=60000"  # the last fits the option probe's tiny model only
SAME = ("config", "k", "d_vocab", "seed", "steps", "device_type", "model_sha256", "strategy", "verdict", "bound_num",
        "bound_den", "float_accuracy", "float_method", "proof_length", "complexity_class", "unexplained_dimension",
        "estimated_work", "estimated_memory", "error")


def sweep(root, out, *extra, check=True, **kwargs):
    cmd = [sys.executable, "-m", "generator.cli", "sweep", "--configs", "3x8", "--seeds", SEEDS, "--steps", STEPS,
           "--strategies", STRATEGIES, "--out", str(out), "--quiet", "--device", "cpu", *extra]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=300, **kwargs)
    assert proc.returncode in ((0, 1) if check else (proc.returncode,)), proc.stderr
    return proc


def rows(out) -> dict[str, dict]:
    conn = sqlite3.connect(os.path.join(out, "results.sqlite"))
    conn.row_factory = sqlite3.Row
    try:
        return {r["key"]: dict(r) for r in conn.execute("SELECT * FROM runs")}
    except sqlite3.OperationalError:  # the sweep has not created its tables yet
        return {}
    finally:
        conn.close()


def without_meta(path: str) -> str:
    text = open(path).read()
    return text[: text.index("\nmeta {")] if "\nmeta {" in text else text


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path_factory.mktemp("local")
    proc = sweep(root, out, "--workers", "2")
    return root, out, proc


def test_local_sweep_rows_certificates_and_failures(local_sweep):
    from checker.verify import check_file

    root, out, proc = local_sweep
    got = rows(out)
    assert len(got) == 2 * 4 and proc.returncode == 1  # 1: some item failed
    assert "2 failed" in proc.stdout
    for r in got.values():
        if r["strategy"].startswith("auto"):  # a real failure, recorded with its error; the others went on
            assert r["verdict"] == "failed" and "no strategy fits" in r["error"]
            continue
        assert r["verdict"] == "accepted", r
        verdict = check_file(os.path.join(out, r["cert_path"]))  # the file on disk is what the row says
        assert verdict.verdict == "accepted" and verdict.bound.numerator == int(r["bound_num"])
        assert verdict.bound.denominator == int(r["bound_den"]) and verdict.model_sha256 == r["model_sha256"]
        assert verdict.result.proof_length == r["proof_length"]
        if r["strategy"] in ("brute-force", "cubic"):  # the checker's estimate, made before any work, bounds it
            assert r["estimated_work"] >= r["proof_length"] and r["estimated_memory"] > 0
        if r["strategy"] == "brute-force":  # 3x8 is exhaustive in float too; both count all 512 inputs
            assert r["float_method"] == "exhaustive"


def test_sweep_model_is_bit_identical_to_certify_train(local_sweep, tmp_path):
    """Rows of the shared sweep (a stack of one per worker) and of a one-worker sweep that trains its two seeds
    as one stack: every model has the bits of `certify train`."""
    from checker.model import weights_sha256
    from generator.cli import main
    from generator.modelio import load_model

    root, out, _ = local_sweep
    stacked = tmp_path / "stacked"
    sweep(root, stacked, "--workers", "1", "--strategies", "cubic")
    for seed in (1, 2):
        model = str(tmp_path / f"m{seed}.safetensors")
        assert main(["train", "--k", "3", "--d-vocab", "8", "--seed", str(seed), "--steps", STEPS, "--device", "cpu",
                     "--quiet", "-o", model]) == 0
        cfg, params, _ = load_model(model)
        alone = weights_sha256(cfg, params)
        row = next(r for r in rows(out).values() if r["seed"] == seed)
        in_stack = next(r for r in rows(stacked).values() if r["seed"] == seed)
        assert (row["train_stack"], in_stack["train_stack"]) == (1, 2)
        assert row["model_sha256"] == in_stack["model_sha256"] == alone


def test_rerun_skips_everything_and_retry_failed_reruns_only_failures(local_sweep):
    root, out, _ = local_sweep
    before = rows(out)
    again = sweep(root, out, "--workers", "2")
    assert "skipped 8 finished runs" in again.stderr and "0 runs done" in again.stdout
    assert rows(out) == before
    retry = sweep(root, out, "--workers", "1", "--retry-failed")
    assert "skipped 6 finished runs" in retry.stderr and "2 runs done (2 failed)" in retry.stdout
    after = rows(out)
    changed = {k for k in after if after[k]["finished_at"] != before[k]["finished_at"]
               or after[k]["check_s"] != before[k]["check_s"]}
    assert changed <= {k for k, r in before.items() if r["verdict"] == "failed"}


def test_ray_executor_gives_identical_rows(local_sweep, tmp_path):
    pytest.importorskip("ray", reason="ray is not installed (pip install '.[ray]')")
    root, out, _ = local_sweep
    proc = sweep(root, tmp_path, "--executor", "ray", "--workers", "2")
    local, ray_rows = rows(out), rows(tmp_path)
    assert set(local) == set(ray_rows)
    for key, r in local.items():
        assert {c: r[c] for c in SAME} == {c: ray_rows[key][c] for c in SAME}
        if r["cert_path"]:  # the same certificate up to its untrusted timing metadata
            assert without_meta(os.path.join(out, r["cert_path"])) == without_meta(
                os.path.join(tmp_path, ray_rows[key]["cert_path"]))
    assert "2 failed" in proc.stdout


def test_killed_sweep_loses_nothing_and_redoes_nothing(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    store = os.path.join(tmp_path, "results.sqlite")
    cmd = [sys.executable, "-m", "generator.cli", "sweep", "--configs", "3x8", "--seeds", "1,2", "--steps", STEPS,
           "--strategies", "brute-force,cubic,subcubic", "--out", str(tmp_path), "--quiet", "--device", "cpu",
           "--workers", "1"]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            if os.path.exists(store) and len(rows(tmp_path)) >= 2:
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, at once
        proc.wait()
    before = rows(tmp_path)
    assert 2 <= len(before) < 6, "the sweep should be killed part way"
    conn = sqlite3.connect(store)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    resumed = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    after = rows(tmp_path)
    assert len(after) == 6 and all(r["verdict"] == "accepted" for r in after.values())
    assert all(after[k] == before[k] for k in before)  # nothing finished was lost or redone
    assert f"skipped {len(before)} finished runs" in resumed.stderr
    assert f"{6 - len(before)} runs done" in resumed.stdout


@pytest.mark.parametrize("args, message", [
    (["--configs", "4y64"], "--configs expects"),
    (["--seeds", "paper:0"], "--seeds paper:N"),
    (["--strategies", "magic"], "unknown strategy"),
    (["--strategies", "cubic:direct_path=diagonal"], "cubic direct_path must be"),
    (["--strategies", "subcubic:rank"], "NAME=VALUE"),
    (["--workers", "0"], "--workers must be at least 1"),
])
def test_bad_sweep_arguments_are_clear_errors(args, message, tmp_path, capsys):
    from generator.cli import main

    base = {"--configs": "3x8", "--seeds": "1", "--out": str(tmp_path / "s")}
    base.update(zip(args[::2], args[1::2]))
    assert main(["sweep", *[x for pair in base.items() for x in pair]]) == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "s")  # refused before any work


def test_sweep_report_from_the_store(local_sweep, capsys):
    from generator.cli import main

    root, out, _ = local_sweep
    assert main(["sweep-report", str(out)]) == 0
    report = open(os.path.join(out, "report.md")).read()
    assert "| 3x8 | 2 |" in report and "certify train --k 3 --d-vocab 8 --seed" in report
    for png in ("bound_vs_length.png", "normalized_bounds.png"):
        assert open(os.path.join(out, png), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert main(["sweep-report", str(out / "nothing")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_refused_strategy_is_recorded_with_its_estimate_never_started(tmp_path):
    """Brute force on K = 20: the estimate (beyond 64 bits) is recorded, and no certificate is made."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-m", "generator.cli", "sweep", "--configs", "20x8", "--seeds", "1",
                           "--steps", "5", "--strategies", "brute-force", "--out", str(tmp_path), "--quiet",
                           "--device", "cpu", "--workers", "1"], cwd=root, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    (row,) = rows(tmp_path).values()
    assert row["verdict"] == "refused" and row["cert_path"] is None and row["model_sha256"]
    assert row["estimated_work"] > 8 ** 20 and "over budget" in row["error"] and "--max-work" in row["error"]
    assert os.listdir(tmp_path / "certs") == []


def test_default_strategies_per_configuration():
    """Without --strategies: every strategy but auto, branch-and-bound only where every input can be evaluated
    (the evaluator's limit decides, as for the float evaluation)."""
    from generator.evaluate import EXHAUSTIVE_LIMIT
    from generator.generate import STRATEGIES
    from generator.sweep import default_strategies, parse_strategies

    assert parse_strategies(None) is None
    for k, v in ((4, 64), (5, 64), (10, 128), (3, 8), (25, 2), (26, 2)):
        names = [s.name for s in default_strategies(k, v)]
        assert names == [n for n in STRATEGIES if n != "auto" and (n != "branch-and-bound" or v ** k <= EXHAUSTIVE_LIMIT)]
        assert all(s.options == () for s in default_strategies(k, v))
    assert "branch-and-bound" in [s.name for s in default_strategies(4, 64)]
    assert "branch-and-bound" not in [s.name for s in default_strategies(5, 64)]
    assert "brute-force" in [s.name for s in default_strategies(5, 64)]  # refused by its estimate, with the estimate
