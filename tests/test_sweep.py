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
    again = sweep(root, out, "--workers", "2", "-q")  # -q, as every command takes it
    assert "skipped 8 finished runs (of 8), 2 of them failed (--retry-failed runs them again)" in again.stderr
    assert "0 runs done" in again.stdout and "(2 of them failed)" in again.stdout
    assert again.returncode == 1 and "2 failed rows remain" in again.stderr and "--retry-failed" in again.stderr
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
    # a fresh HOME: a local Ray instance writes its token to ~/.ray/auth_token, which later `ray start`s would use
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAY_")}, "HOME": str(tmp_path / "home")}
    proc = sweep(root, tmp_path / "out", "--executor", "ray", "--workers", "2", "--seeds", "1", "--strategies",
                 "cubic,auto:budget=60000", env=env)
    tmp_path = tmp_path / "out"
    local, ray_rows = rows(out), rows(tmp_path)
    assert len(ray_rows) == 2 and set(ray_rows) <= set(local)  # a part of the local sweep: seed 1, two strategies
    for key, r in ((k, local[k]) for k in ray_rows):
        assert {c: r[c] for c in SAME} == {c: ray_rows[key][c] for c in SAME}
        if r["cert_path"]:  # the same certificate up to its untrusted timing metadata
            assert without_meta(os.path.join(out, r["cert_path"])) == without_meta(
                os.path.join(tmp_path, ray_rows[key]["cert_path"]))
    assert "1 failed" in proc.stdout
    assert all(line.startswith("sweep: ") for line in proc.stderr.splitlines()), proc.stderr  # no Ray notices


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


def _as_reader(cmd: list[str]) -> list[str]:
    """cmd run by a user who cannot write the test's read-only folders: root writes anywhere, so as nobody."""
    if os.geteuid() != 0:
        return cmd
    import shutil

    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: a read-only folder cannot be made")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]


def test_sweep_report_of_a_read_only_sweep_folder(local_sweep):
    """The store is only read (also where its WAL index cannot be made); the report goes to --out, and without it
    the message says that the folder, not the store, is the problem."""
    import shutil
    import tempfile

    root, out, _ = local_sweep
    base = tempfile.mkdtemp(prefix="sweep-ro-", dir="/tmp")
    try:
        os.chmod(base, 0o755)
        sweep_dir, report_dir, mpl = (os.path.join(base, name) for name in ("sweep", "report", "mpl"))
        os.mkdir(sweep_dir)
        shutil.copy(os.path.join(out, "results.sqlite"), sweep_dir)
        os.chmod(os.path.join(sweep_dir, "results.sqlite"), 0o444)
        os.chmod(sweep_dir, 0o555)
        for folder in (report_dir, mpl):
            os.mkdir(folder)
            os.chmod(folder, 0o777)
        env = {**os.environ, "MPLCONFIGDIR": mpl}
        cmd = _as_reader([sys.executable, "-m", "generator.cli", "sweep-report", "-q", sweep_dir])
        refused = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=300, env=env)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert f"cannot write the report into {sweep_dir}" in refused.stderr and "--out" in refused.stderr
        assert "store" not in refused.stderr.split("(")[0]
        done = subprocess.run([*cmd, "--out", report_dir], cwd=root, capture_output=True, text=True, timeout=300,
                              env=env)
        assert done.returncode == 0, done.stderr
        assert done.stderr == "" and f"wrote {report_dir}/report.md" in done.stdout
        assert sorted(os.listdir(report_dir)) == ["bound_vs_length.png", "normalized_bounds.png", "report.md"]
        assert os.listdir(sweep_dir) == ["results.sqlite"]
    finally:
        for folder, _, _ in os.walk(base):
            os.chmod(folder, 0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_sweep_help_says_what_the_sweep_does(capsys):
    from generator.cli import main

    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default 0.25)" in text and "refuse (exit 2)" not in text and "recorded as refused" in text
    assert "-q, --quiet" in text


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


# ---------------------------------------------------------------------------------------------------------------
# Ray on a real cluster: the README's recipe, run as written (section "On a Ray cluster"), on two nodes of this machine.

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _stop_nodes(nodes: list[subprocess.Popen]) -> None:
    """End `ray start --block` nodes and every process each started (its own process group), never another Ray:
    SIGTERM, then SIGKILL for what is left after a few seconds."""
    def alive(proc) -> bool:
        proc.poll()  # reap the `ray start` process itself once it has ended
        try:
            os.killpg(proc.pid, 0)
            return True
        except ProcessLookupError:
            return False

    for sig, wait_s in ((signal.SIGTERM, 5), (signal.SIGKILL, 10)):
        for proc in nodes:
            if alive(proc):
                os.killpg(proc.pid, sig)
        deadline = time.time() + wait_s
        while any(alive(p) for p in nodes) and time.time() < deadline:
            time.sleep(0.2)
    for proc in nodes:
        proc.wait(timeout=10)
    assert not any(alive(p) for p in nodes)


@pytest.fixture
def ray_cluster(tmp_path):
    """Two Ray nodes of one CPU each (`ray start --head`, `ray start --address`), with the recipe's token
    authentication; HOME is a fresh folder (the token lands in HOME/.ray), so the user's own Ray is not touched.
    Yields (HEAD:PORT, environment of the recipe's shells); stops both nodes whatever the test does."""
    pytest.importorskip("ray", reason="ray is not installed (pip install '.[ray]')")
    import shutil
    import tempfile

    ray_cli = os.path.join(os.path.dirname(sys.executable), "ray")
    if not os.path.exists(ray_cli):
        pytest.skip(f"no ray command beside {sys.executable}")
    home = tempfile.mkdtemp(prefix="cpray", dir="/tmp")  # short: Ray's socket paths live under its temp dir
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["HOME"] = home
    nodes: list[subprocess.Popen] = []
    try:
        token = subprocess.run([ray_cli, "get-auth-token", "--generate"], env=env, capture_output=True, text=True,
                               timeout=120, check=True).stdout.strip()
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)  # the recipe's export, on every node
        # the other node and the driver stand for other machines: only the head's HOME holds the token file
        elsewhere = {**env, "HOME": os.path.join(home, "elsewhere")}
        os.mkdir(elsewhere["HOME"])
        port = _free_port()
        address = f"127.0.0.1:{port}"
        common = ["--block", "--num-cpus", "1", "--disable-usage-stats", "--object-store-memory", str(100 << 20)]
        logs = [open(tmp_path / f"node{i}.log", "w") for i in range(2)]
        nodes.append(subprocess.Popen([ray_cli, "start", "--head", "--port", str(port), "--include-dashboard=false",
                                       "--temp-dir", os.path.join(home, "t"), *common], env=env, stdout=logs[0],
                                      stderr=subprocess.STDOUT, start_new_session=True))
        _wait_for(lambda: _answers(port), nodes[0], tmp_path / "node0.log")
        nodes.append(subprocess.Popen([ray_cli, "start", "--address", address, "--dashboard-agent-listen-port",
                                       str(_free_port()), *common], env=elsewhere, stdout=logs[1],
                                      stderr=subprocess.STDOUT, start_new_session=True))
        _wait_for(lambda: "2.0 CPU" in subprocess.run(
            [ray_cli, "status", "--address", address], env=env, capture_output=True, text=True, timeout=60).stdout,
                  nodes[1], tmp_path / "node1.log")
        yield address, elsewhere
    finally:
        _stop_nodes(nodes)
        shutil.rmtree(home, ignore_errors=True)


def _answers(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def _wait_for(ready, node: subprocess.Popen, log, limit_s: float = 180) -> None:
    """Poll ready() until it holds; fail (with the node's log) if the node exits or the limit passes (only so that
    a broken Ray cannot hang the suite)."""
    deadline = time.time() + limit_s
    while not ready():
        if node.poll() is not None or time.time() > deadline:
            pytest.fail(f"ray node did not come up:\n{open(log).read()[-3000:]}")
        time.sleep(0.5)


def test_ray_cluster_two_nodes_gives_identical_rows(local_sweep, ray_cluster, tmp_path):
    """`certify sweep --executor ray --ray-address HEAD:PORT` on a two-node cluster: the local executor's rows and
    certificates; a driver without the cluster's token, and an address where no cluster is, are refused in one line."""
    root, out, _ = local_sweep
    address, env = ray_cluster
    no_token = {k: v for k, v in env.items() if not k.startswith("RAY_AUTH")}
    refused = sweep(root, tmp_path / "no-token", "--executor", "ray", "--ray-address", address, check=False,
                    env=no_token)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert f"--ray-address {address}:" in refused.stderr and "RAY_AUTH_MODE=token" in refused.stderr
    assert not os.path.exists(tmp_path / "no-token")

    cluster_out = tmp_path / "cluster"
    proc = sweep(root, cluster_out, "--executor", "ray", "--ray-address", address, env=env)
    local, cluster = rows(out), rows(cluster_out)
    assert set(local) == set(cluster)
    for key, r in local.items():
        assert {c: r[c] for c in SAME} == {c: cluster[key][c] for c in SAME}
        if r["cert_path"]:
            assert without_meta(os.path.join(out, r["cert_path"])) == without_meta(
                os.path.join(cluster_out, cluster[key]["cert_path"]))
    assert "2 failed" in proc.stdout and proc.returncode == 1
    conn = sqlite3.connect(os.path.join(cluster_out, "results.sqlite"))
    assert conn.execute("SELECT executor, workers FROM sweeps").fetchall() == [("RayExecutor", 2)]
    conn.close()


def test_bad_ray_address_fails_at_once_in_one_line(tmp_path, capsys):
    """Refused before Ray is asked (nothing listens there, or no port), in one line that names the address."""
    pytest.importorskip("ray", reason="ray is not installed (pip install '.[ray]')")
    from generator.cli import main

    port = _free_port()  # nothing listens there
    for address, message in ((f"127.0.0.1:{port}", "no Ray head node answers there"),
                             ("127.0.0.1", "expected HOST:PORT")):
        start = time.perf_counter()
        assert main(["sweep", "--configs", "3x8", "--seeds", "1", "--strategies", "cubic", "--out",
                     str(tmp_path / "s"), "--executor", "ray", "--ray-address", address]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"certify: error: --ray-address {address}: {message}") and err.count("\n") == 1, err
        assert not os.path.exists(tmp_path / "s")
        assert time.perf_counter() - start < 600  # only so that a regression cannot hang the suite


def test_ctrl_c_in_the_proof_phase_is_one_line_and_stops_the_workers(tmp_path):
    """SIGINT to the whole process group, as Ctrl-C in a terminal sends it: the workers ignore it, the parent stops
    them and says so in one line (exit 130); what finished is kept."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # 8 seeds x 3 strategies: the SIGINT must land mid-sweep (with 3 rows in all, an idle machine had finished the
    # sweep and was exiting when the first row could be read, and the signal came too late)
    cmd = [sys.executable, "-m", "generator.cli", "sweep", "--configs", "3x8", "--seeds", "1,2,3,4,5,6,7,8",
           "--steps", STEPS, "--strategies", "brute-force,cubic,subcubic", "--out", str(tmp_path), "--quiet",
           "--device", "cpu", "--workers", "2"]
    # SIGINT's default action in the sweep, as in a terminal: a test run started in the background (CI's nohup)
    # inherits SIGINT ignored, which Python then keeps ignored
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None and not rows(tmp_path):
            time.sleep(0.05)  # the first row: the workers are proving
        assert proc.poll() is None, "the sweep should still be running"
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        left = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-g", str(proc.pid)], capture_output=True,
                              text=True).stdout
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    assert proc.returncode == 130 and err == "certify: interrupted\n", err
    assert [line for line in left.splitlines() if " Z" not in line] == []  # no worker is left behind
    assert 1 <= len(rows(tmp_path)) < 24


def _plot_facts(fig) -> dict:
    """What a reader sees in a figure: legend labels, each panel's lines and limits, and overlapping tick labels."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    facts = {"legend": [t.get_text() for legend in fig.legends for t in legend.get_texts()], "panels": []}
    for ax in fig.axes:
        if not ax.axison:
            continue
        labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
        boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
        facts["panels"].append({
            "ylim": ax.get_ylim(), "xlim": ax.get_xlim(), "xticklabels": [t.get_text() for t in labels],
            "overlap": any(a.x1 > b.x0 for a, b in zip(boxes, boxes[1:])),
            "lines": [(line.get_color(), line.get_linestyle()) for line in ax.get_lines()]})
    return facts


def test_sweep_report_plots_show_what_their_legends_say(local_sweep):
    """A small sweep (3x8, all bounds near 1): no overlapping tick labels, no y axis past 1.0, a legend naming only
    what is drawn (no paper lines: 3x8 is not published); with the paper's lines, their colours differ from the
    box plots' medians."""
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba

    from generator.sweep_report import (PAPER_LINES, _distributions_figure, _frontier_figure, load_rows,
                                        true_accuracies)

    _, out, _ = local_sweep
    rows_ = load_rows(os.path.join(out, "results.sqlite"))
    truth = true_accuracies(rows_)
    fig = _frontier_figure(rows_, truth)
    facts = _plot_facts(fig)
    plt.close(fig)
    accepted = sorted({r["strategy"] for r in rows_ if r["verdict"] == "accepted"})
    (panel,) = facts["panels"]
    drawn_frontier = any(color == "black" for color, _ in panel["lines"])
    assert facts["legend"] == accepted + (["Pareto frontier (best at or below each length)"] if drawn_frontier else [])
    assert panel["ylim"][1] <= 1.005 and len(panel["xticklabels"]) >= 2 and not panel["overlap"], panel

    reference = {"3x8": {"cubic": [0.97, 0.01], "best_subcubic": [0.9, 0.02]}}
    for ref in (None, reference):
        fig = _distributions_figure(rows_, truth, ref)
        facts = _plot_facts(fig)
        plt.close(fig)
        (panel,) = facts["panels"]
        paper = [label for _, _, label in PAPER_LINES]
        assert facts["legend"] == ([] if ref is None else paper)
        assert panel["xlim"][1] <= 1.005 and not panel["overlap"]
        medians = {to_rgba(c) for c, style in panel["lines"] if style == "-"} - {to_rgba("black")}
        dashed = {to_rgba(c) for c, style in panel["lines"] if style == "--"}
        assert len(dashed) == (0 if ref is None else 2) and not dashed & ({to_rgba("black")} | medians)
    assert matplotlib.get_backend().lower() == "agg"


def test_ray_address_where_something_else_listens_ends_in_one_line(tmp_path):
    """A port that accepts connections but speaks no Ray: Ray's own attempt would take minutes; the sweep gives up
    after RAY_JOIN_LIMIT_S (3 s here instead of 40, so that the test is quick) with one line naming the address."""
    pytest.importorskip("ray", reason="ray is not installed (pip install '.[ray]')")
    import socket

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with socket.socket() as listener:
        listener.bind(("", 0))
        listener.listen(16)
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        code = ("import sys, generator.sweep as s; s.RAY_JOIN_LIMIT_S = 3; from generator.cli import main; "
                f"sys.exit(main(['sweep', '--configs', '3x8', '--seeds', '1', '--strategies', 'cubic', '--out', "
                f"{str(tmp_path / 's')!r}, '--executor', 'ray', '--ray-address', {address!r}]))")
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300,
                              env=env)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"certify: error: --ray-address {address}: no Ray cluster answered there within 3 s")
    assert not os.path.exists(tmp_path / "s")


def test_ray_address_from_the_environment_is_checked_alike(tmp_path, capsys, monkeypatch):
    """RAY_ADDRESS, which ray.init() would read, gets the same checks and one line naming it."""
    pytest.importorskip("ray", reason="ray is not installed (pip install '.[ray]')")
    from generator.cli import main

    address = f"127.0.0.1:{_free_port()}"
    monkeypatch.setenv("RAY_ADDRESS", address)
    assert main(["sweep", "--configs", "3x8", "--seeds", "1", "--strategies", "cubic", "--out", str(tmp_path / "s"),
                 "--executor", "ray"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"certify: error: RAY_ADDRESS {address}: no Ray head node answers there"), err
