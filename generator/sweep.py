"""`certify sweep`: the zoo. For each (config, seed): train, evaluate in float, and for each strategy generate a
certificate and check it; one row per (model, strategy) in DIR/results.sqlite, resumable by key.

A thin layer over the same functions as `certify train` and `certify generate` (so every row is reproducible
with those commands). The parent process is the only writer of the store and of DIR's files; workers (a local
process pool, or Ray tasks) receive plain data and return plain data."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass
from fractions import Fraction

import numpy as np

from checker import __version__ as CHECKER_VERSION
from checker.budget import Budget, OverBudget
from checker.model import ModelConfig, weights_sha256
from generator import __version__

# The paper's 151 seeds, in its order (Gross et al. 2024, public data repository).
PAPER_SEEDS = (
    50, 104, 123, 519, 742, 913, 1185, 1283, 1412, 1490, 1681, 1696, 1895, 1951, 2236, 2306, 2345, 2549, 2743, 2773,
    3175, 3254, 3284, 4157, 4305, 4430, 4647, 4729, 4800, 4810, 5358, 5615, 5781, 5928, 6082, 6155, 6159, 6204, 6532,
    6549, 6589, 6910, 7098, 7238, 7310, 7467, 7790, 7884, 8048, 8299, 8721, 8745, 8840, 8893, 9132, 9134, 9504, 9816,
    10248, 11124, 11130, 11498, 11598, 11611, 12141, 12287, 12457, 12493, 12552, 12561, 13036, 13293, 13468, 13654,
    13716, 14095, 14929, 15043, 15399, 15622, 15662, 16069, 16149, 16197, 16284, 17080, 17096, 17194, 17197, 18146,
    18289, 18668, 19004, 19093, 19451, 19488, 19538, 19917, 20013, 20294, 20338, 20415, 20539, 20751, 20754, 20976,
    21317, 21598, 22261, 22286, 22401, 22545, 23241, 23367, 23447, 23633, 23696, 24144, 24173, 24202, 24262, 24438,
    24566, 25516, 26278, 26374, 26829, 26932, 27300, 27484, 27584, 27671, 27714, 28090, 28716, 28778, 29022, 29052,
    29110, 29195, 29565, 29725, 29726, 30371, 30463, 30684, 30899, 31308, 32103, 32374, 32382)
PAPER_CONFIGS = ((4, 64), (5, 64), (10, 64), (10, 128), (20, 64), (20, 512))  # (K, d_vocab)
D_MODEL = D_HEAD = 32  # `certify train`'s defaults and the paper's sizes
FLOAT_SAMPLES = 1_000_000  # `certify eval`'s default, when exhaustive evaluation is too large
# Seeds trained together on the CPU: per model, a stack of 16 takes 0.27x the CPU time of one alone (4x64; 16 and
# 32 are within noise, 64 is slower; benchmarks/bench_train_eval.py). On CUDA the default stays 1: that a stack's
# bits equal a lone model's is tested on the CPU only (cuBLAS may choose its kernels by the batch count).
DEFAULT_TRAIN_STACK = 16


@dataclass(frozen=True)
class Strategy:
    """A strategy name from generator.generate.STRATEGIES with pinned options, e.g. cubic:direct_path=per-output."""

    name: str
    options: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        return self.name + "".join(f":{k}={v}" for k, v in self.options)

    def generate_args(self) -> str:
        """The same strategy as `certify generate` options."""
        return f"--strategy {self.name}" + "".join(f" --option {k}={v}" for k, v in self.options)


def parse_configs(text: str) -> list[tuple[int, int]]:
    """'paper' (the six configurations) or a comma list of KxV, e.g. '4x64,3x8'."""
    if text.strip() == "paper":
        return list(PAPER_CONFIGS)
    configs = []
    for part in text.split(","):
        k, sep, v = part.strip().partition("x")
        if not sep or not k.isdigit() or not v.isdigit() or int(k) < 1 or int(v) < 2:
            raise ValueError(f"--configs expects 'paper' or KxV items like 4x64 (K >= 1, d_vocab >= 2), got {part!r}")
        if (int(k), int(v)) not in configs:
            configs.append((int(k), int(v)))
    return configs


def parse_seeds(text: str) -> list[int]:
    """'paper' (151 seeds), 'paper:N' (the first N of them) or a comma list of integers."""
    text = text.strip()
    if text == "paper":
        return list(PAPER_SEEDS)
    if text.startswith("paper:"):
        n = text[6:]
        if not n.isdigit() or not 1 <= int(n) <= len(PAPER_SEEDS):
            raise ValueError(f"--seeds paper:N needs 1 <= N <= {len(PAPER_SEEDS)}, got {text!r}")
        return list(PAPER_SEEDS[: int(n)])
    seeds = []
    for part in text.split(","):
        if not part.strip().isdigit():
            raise ValueError(f"--seeds expects 'paper', 'paper:N' or a comma list of non-negative integers, got {part!r}")
        if int(part) not in seeds:
            seeds.append(int(part))
    return seeds


def default_strategies(k: int, d_vocab: int) -> list[Strategy]:
    """Every strategy in STRATEGIES except auto (it repeats the others), at its defaults; branch-and-bound only
    where every input can be evaluated (d_vocab^k <= 2^25), where its exact tree costs less than brute force.
    Beyond, its search takes minutes per model unbudgeted, and with a proof-length budget it screens every root
    (3 minutes per 10x128 model at budget 1e8, docs/sweep/README.md): run it with --strategies
    branch-and-bound:budget=N."""
    from generator.evaluate import EXHAUSTIVE_LIMIT
    from generator.generate import STRATEGIES

    return [Strategy(name) for name in STRATEGIES
            if name != "auto" and (name != "branch-and-bound" or d_vocab ** k <= EXHAUSTIVE_LIMIT)]


def parse_strategies(text: str | None) -> list[Strategy] | None:
    """Comma list of NAME[:OPTION=VALUE...]; None: None (each configuration's `default_strategies`).

    Each one is tried on a tiny random model first, so that a bad name or option is an error before any work."""
    from generator.generate import STRATEGIES

    if text is None:
        return None
    out = []
    for spec in text.split(","):
        name, *pairs = spec.strip().split(":")
        if name not in STRATEGIES:
            raise ValueError(f"unknown strategy {name!r} in --strategies (known: {', '.join(STRATEGIES)})")
        options = []
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise ValueError(f"strategy options are NAME=VALUE, got {pair!r} in {spec!r}")
            options.append((key.strip(), value.strip()))
        strategy = Strategy(name, tuple(options))
        _probe(strategy)
        if strategy not in out:
            out.append(strategy)
    return out


def _probe(strategy: Strategy) -> None:
    """Build the strategy's certificate for a tiny random model: raises ValueError for bad options."""
    from generator.generate import build_certificate

    cfg = ModelConfig(d_vocab=3, d_model=D_MODEL, d_head=D_HEAD, n_ctx=2)
    rng = np.random.default_rng(0)
    params = {name: (rng.standard_normal(shape) * 0.1).astype(np.float32) for name, shape in cfg.shapes().items()}
    try:
        build_certificate(cfg, params, strategy.name, dict(strategy.options), device="cpu", progress=False)
    except ValueError as exc:
        raise ValueError(f"strategy {strategy.label}: {exc}") from None


def estimated_cost(cfg: ModelConfig, strategy: Strategy) -> tuple[int, int] | None:
    """(work, memory) of checking what the strategy builds, estimated from the config by the checker's own cost
    formulas (checker/budget.py, as `certify generate` does), before any work; for branch-and-bound a lower bound
    (its tree is known only after the search, and is held to the budget again before its exact check); None for
    auto (its budget is enforced inside its search)."""
    from generator.generate import estimate_strategy

    return estimate_strategy(cfg, strategy.name, dict(strategy.options))


# ---------------------------------------------------------------------------------------------------------------
# Work done by the workers: plain data in, plain data out.

def train_task(spec: dict) -> dict:
    """Train a stack of seeds of one configuration (the same function as `certify train`, which trains a stack
    of one: the weights are the same bits) and evaluate each model in float (the same as `certify eval`).
    Training times are each model's share of the stack's."""
    import torch

    from checker.allocator import keep_freed_memory

    from generator.evaluate import float_accuracy
    from generator.train import TrainConfig, cpu_seconds, train_many

    keep_freed_memory()  # a worker process: the CLI's tuning does not reach it
    cfg = ModelConfig(**spec["config"])
    try:
        start, cpu = time.perf_counter(), cpu_seconds()
        trained = train_many(cfg, [TrainConfig(**t) for t in spec["trainings"]], device=spec["device"],
                             progress=False)
        train_s = (time.perf_counter() - start) / len(trained)
        train_cpu_s = (cpu_seconds() - cpu) / len(trained)  # the portable training's child process included
        torch.set_num_threads(spec["threads"])
        models = []
        for params, meta in trained:
            start, cpu = time.perf_counter(), time.process_time()
            accuracy = float_accuracy(cfg, params, device=spec["device"], samples=FLOAT_SAMPLES, progress=False)
            models.append({"params": params, "meta": meta, "float": accuracy, "train_s": train_s,
                           "train_cpu_s": train_cpu_s, "eval_s": time.perf_counter() - start,
                           "eval_cpu_s": time.process_time() - cpu, "train_stack": len(trained)})
        return {"models": models}
    except Exception as exc:  # recorded as the items' error; the sweep goes on
        return {"error": f"training: {type(exc).__name__}: {exc}"}


def prove_task(spec: dict, params: dict[str, np.ndarray]) -> dict:
    """Generate the certificate (the same function as `certify generate`), whose claim is the checker's exact
    bound, then read the written text back with the checker's parser and confirm it is that certificate.

    The checker runs once per certificate: build_certificate's exact check is the check (recorded as check_s),
    not repeated on the file; the text round-trip (parse, re-hash the weights, re-format) shows the file holds
    exactly the weights, witness and claim that the checker accepted."""
    import torch

    from checker.allocator import keep_freed_memory
    from checker.certificate import MalformedCertificate, parse_certificate
    from generator.certwriter import format_certificate
    from generator.generate import build_certificate

    keep_freed_memory()
    torch.set_num_threads(spec["threads"])
    cfg = ModelConfig(**spec["config"])
    try:
        start, cpu = time.perf_counter(), time.process_time()
        # over the budget after its search (a cost known only from the witness): recorded as failed, with why
        cert, info = build_certificate(cfg, params, spec["strategy"], dict(spec["options"]), device=spec["device"],
                                       progress=False, budget=Budget(*spec["budget"]))
        verdict = info["verdict"]
        built = time.perf_counter()
        text = format_certificate(cert)
        try:
            parsed = parse_certificate(text)
            same = (format_certificate(parsed) == text and parsed.sha256 == cert.sha256
                    and weights_sha256(parsed.config, parsed.params) == cert.sha256)
        except MalformedCertificate as exc:
            same, verdict.reason = False, f"the written certificate does not parse: {exc}"
        check_s = verdict.seconds + time.perf_counter() - built
        result = verdict.result
        return {"text": text, "verdict": verdict.verdict if same else "rejected",
                "reason": verdict.reason if same else (verdict.reason or "the written text is not the checked certificate"),
                "bound_num": str(cert.claim.numerator), "bound_den": str(cert.claim.denominator),
                "proof_length": result.proof_length, "complexity_class": result.complexity_class,
                "unexplained_dimension": result.unexplained_dimension,
                "generate_s": built - start - verdict.seconds, "check_s": check_s,
                "prove_cpu_s": time.process_time() - cpu}
    except Exception as exc:  # a failed item is recorded with its error; the sweep goes on
        return {"error": f"{type(exc).__name__}: {exc}"}


# ---------------------------------------------------------------------------------------------------------------
# Executors: submit(fn, *args) -> handle, wait(handles) -> finished handles, result(handle), close().

class LocalExecutor:
    """A pool of local worker processes (spawned, so that no torch state is shared). The workers ignore SIGINT:
    Ctrl-C reaches the parent alone, which stops the pool (close(interrupted=True)) and reports it in one line."""

    def __init__(self, workers: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_ignore_sigint)

    def submit(self, fn, *args, gpu: bool = False):
        """Submit; a worker that the pool spawns here starts with SIGINT blocked (the mask is inherited across fork
        and exec) until its initializer ignores it, so that a Ctrl-C during its start-up prints no traceback. In
        this process a SIGINT meanwhile is only delayed (another thread takes it), never lost."""
        import signal

        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return self.pool.submit(fn, *args)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def wait(self, handles) -> list:
        from concurrent.futures import FIRST_COMPLETED, wait

        return list(wait(handles, return_when=FIRST_COMPLETED).done)

    def result(self, handle):
        return handle.result()

    def close(self, interrupted: bool = False) -> None:
        """Wait for the workers to exit; interrupted: end them now (their items in flight are not recorded, and a
        rerun does them)."""
        if interrupted:
            processes = list((getattr(self.pool, "_processes", None) or {}).values())
            self.pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                if process.is_alive():
                    process.terminate()
            for process in processes:
                process.join(10)
        self.pool.shutdown(wait=True, cancel_futures=True)


def _ignore_sigint() -> None:
    """Worker initializer: Ctrl-C in a terminal signals the whole foreground process group; only the parent acts.
    tqdm's lock is a thread lock here: its default, a multiprocessing lock, would be reported as a leaked semaphore
    by the resource tracker when the parent ends an interrupted worker."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked since the spawn (LocalExecutor.submit)
    try:
        from tqdm import tqdm
    except ImportError:
        return
    tqdm.set_lock(threading.RLock())


RAY_CONNECT_TIMEOUT_S = 10  # for the head node to accept a TCP connection at --ray-address HOST:PORT
# For ray.init to join (a healthy cluster takes seconds); its one attempt at an address where something else listens
# takes about 45 s, so that the whole command, imports included, ends within a minute.
RAY_JOIN_LIMIT_S = 40


class RayAddressError(ValueError):
    """--ray-address names no Ray cluster that this driver can join: one line, exit 2."""


def _split_address(address: str, option: str = "--ray-address") -> tuple[str, int] | None:
    """(host, port) of a HOST:PORT address, None for Ray's other forms (auto, ray://...); ValueError if neither."""
    if address == "auto" or "://" in address:
        return None
    host, sep, port = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RayAddressError(f"{option} {address}: expected HOST:PORT (the head node's, e.g. HEAD:6379), "
                              f"auto, or ray://HOST:PORT")
    return host, int(port)


def _first_line(exc: BaseException) -> str:
    """An exception's message as one line (Ray's carry tracebacks and log excerpts)."""
    text = " ".join(str(exc).split("\n")[0].split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _is_auth_error(exc: BaseException | None) -> bool:
    """Whether Ray refused the driver's authentication (anywhere in the exception's chain)."""
    while exc is not None:
        if type(exc).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class _QuietStderr:
    """Redirect file descriptor 2 (Ray's C++ logs write there directly) to a temporary file for a block."""

    def __enter__(self):
        import tempfile

        sys.stderr.flush()
        self.saved = os.dup(2)
        self.file = tempfile.TemporaryFile()
        os.dup2(self.file.fileno(), 2)
        return self

    def __exit__(self, *exc) -> None:
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.file.close()


class RayExecutor:
    """Ray tasks: on an existing cluster (address) or a local instance of `workers` CPUs. A task asks for one
    CPU, and for a share of a GPU when the work runs on CUDA.

    Joining a cluster fails within about a minute, with one line that names the address: a HOST:PORT that accepts
    no TCP connection within RAY_CONNECT_TIMEOUT_S is refused before Ray is asked, and Ray gets one attempt at its
    GCS (its default, 20 attempts of about 36 s each, is a 13-minute wait), within RAY_JOIN_LIMIT_S.

    Authentication is Ray's (2.60): a head node started where a token exists (RAY_AUTH_MODE=token, or just
    ~/.ray/auth_token, which a local `ray.init()` writes) refuses every node and driver without that token, and
    Ray enables it for a driver only with RAY_AUTH_MODE=token or --ray-address auto; the README's recipe sets it
    everywhere."""

    def __init__(self, workers: int | None, address: str | None, gpus_per_task: float, quiet: bool = False):
        try:
            import ray
        except ImportError:
            raise ValueError("--executor ray needs Ray: pip install '.[ray]'") from None
        self.ray = ray
        self.option = "--ray-address" if address else "RAY_ADDRESS"
        address = address or os.environ.get("RAY_ADDRESS")  # as ray.init() would read it, with the same checks
        if address:
            self._join(address)
        else:
            import logging

            # a local instance is private to this sweep: Ray's notice that it enabled token authentication is noise
            logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
            ray.init(num_cpus=workers or os.cpu_count(), include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING if quiet else logging.INFO)
        self.workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.has_gpu = ray.cluster_resources().get("GPU", 0) > 0
        self.gpus_per_task = gpus_per_task
        self.remote = {fn: ray.remote(fn) for fn in (train_task, prove_task)}

    def _join(self, address: str) -> None:
        import socket

        hostport = _split_address(address, self.option)
        if hostport is not None:
            try:
                socket.create_connection(hostport, timeout=RAY_CONNECT_TIMEOUT_S).close()
            except OSError as exc:
                why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
                raise RayAddressError(f"{self.option} {address}: no Ray head node answers there ({why}); start one "
                                      f"with `ray start --head` and give its HOST:PORT (default port 6379)") from None
        import threading

        def give_up() -> None:  # a last resort: ray.init cannot be interrupted from Python
            os.write(self._stderr, f"certify: error: {self.option} {address}: no Ray cluster answered there within "
                                   f"{RAY_JOIN_LIMIT_S} s\n".encode())
            os._exit(2)

        saved = os.environ.get("RAY_gcs_server_port_wait_time_s")
        os.environ["RAY_gcs_server_port_wait_time_s"] = saved or "1"  # one attempt at the GCS, not twenty
        watchdog = threading.Timer(RAY_JOIN_LIMIT_S, give_up)
        watchdog.daemon = True
        try:
            with _QuietStderr() as quiet:
                self._stderr = quiet.saved
                watchdog.start()
                try:
                    self.ray.init(address=address, log_to_driver=False)
                finally:
                    watchdog.cancel()
        except Exception as exc:
            try:
                self.ray.shutdown()
            except Exception:
                pass
            if _is_auth_error(exc):
                raise RayAddressError(
                    f"{self.option} {address}: the Ray cluster there wants its authentication token: set "
                    f"RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (the token its head node uses) here, as on its nodes "
                    f"(README, On a Ray cluster)") from None
            raise RayAddressError(f"{self.option} {address}: cannot join a Ray cluster there: "
                                  f"{_first_line(exc)}") from None
        finally:
            if saved is None:
                os.environ.pop("RAY_gcs_server_port_wait_time_s", None)
            else:
                os.environ["RAY_gcs_server_port_wait_time_s"] = saved

    def submit(self, fn, *args, gpu: bool = False):
        return self.remote[fn].options(num_cpus=1, num_gpus=self.gpus_per_task if gpu else 0).remote(*args)

    def wait(self, handles) -> list:
        done, _ = self.ray.wait(list(handles), num_returns=1)
        return done

    def result(self, handle):
        return self.ray.get(handle)

    def close(self, interrupted: bool = False) -> None:
        """Disconnect: a local instance stops; on a cluster, the tasks this driver owns end with it."""
        self.ray.shutdown()


# ---------------------------------------------------------------------------------------------------------------
# The store: DIR/results.sqlite. Only the parent writes; every row is its own transaction.

RUN_COLUMNS = (
    "key TEXT PRIMARY KEY", "config TEXT", "k INTEGER", "d_vocab INTEGER", "d_model INTEGER", "d_head INTEGER",
    "seed INTEGER", "steps INTEGER", "device_type TEXT", "model_path TEXT", "model_sha256 TEXT", "strategy TEXT",
    "verdict TEXT", "bound_num TEXT", "bound_den TEXT", "bound REAL", "float_accuracy REAL", "float_method TEXT",
    "float_ci_low REAL", "float_ci_high REAL", "proof_length INTEGER", "estimated_work INTEGER",
    "estimated_memory INTEGER",
    "complexity_class TEXT", "unexplained_dimension INTEGER", "train_s REAL", "eval_s REAL", "generate_s REAL",
    "check_s REAL", "train_cpu_s REAL", "eval_cpu_s REAL", "prove_cpu_s REAL", "cert_path TEXT", "cert_sha256 TEXT",
    "package_version TEXT", "checker_version TEXT", "torch_version TEXT", "error TEXT", "finished_at TEXT",
    "train_stack INTEGER", "train_arithmetic TEXT")
MODEL_COLUMNS = (
    "train_key TEXT PRIMARY KEY", "model_sha256 TEXT", "model_path TEXT", "train_s REAL", "eval_s REAL",
    "float_json TEXT", "finished_at TEXT", "train_cpu_s REAL", "eval_cpu_s REAL", "train_stack INTEGER")
SWEEP_COLUMNS = (
    "id INTEGER PRIMARY KEY", "command TEXT", "executor TEXT", "workers INTEGER", "started_at TEXT",
    "wall_s REAL", "ran INTEGER", "skipped INTEGER", "failed INTEGER", "refused INTEGER")


def open_store(path: str) -> sqlite3.Connection:
    """Open (creating if needed) the results store; WAL journal, so readers never block the writer.
    Columns added since a store was made are added to it (empty for its earlier rows)."""
    conn = sqlite3.connect(path, timeout=60)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    with conn:
        for table, columns in (("runs", RUN_COLUMNS), ("models", MODEL_COLUMNS), ("sweeps", SWEEP_COLUMNS)):
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(columns)})")
            have = {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}
            for column in columns:
                if column.split()[0] not in have:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
    return conn


def _upsert(conn: sqlite3.Connection, table: str, row: dict) -> None:
    with conn:  # one transaction: the row is there entirely or not at all
        conn.execute(f"INSERT OR REPLACE INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                     list(row.values()))


def _as_sqlite_number(n: int | None) -> int | float | None:
    """An integer as SQLite can hold it: a float beyond 64 bits (estimates like 64^20 for brute force)."""
    return n if n is None or abs(n) < 1 << 63 else float(n)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------------------------
# The sweep.

@dataclass(frozen=True)
class ModelSpec:
    """One (config, seed): what determines the trained weights (training is deterministic)."""

    k: int
    d_vocab: int
    seed: int
    steps: int
    device_type: str
    torch_version: str

    @property
    def config(self) -> ModelConfig:
        return ModelConfig(d_vocab=self.d_vocab, d_model=D_MODEL, d_head=D_HEAD, n_ctx=self.k)

    @property
    def name(self) -> str:
        return f"max{self.k}-v{self.d_vocab}-s{self.seed}"

    @property
    def arithmetic(self) -> str:
        """The training arithmetic (model metadata's train_arithmetic): portable on the CPU, else the device type."""
        from generator.train import PORTABLE

        return PORTABLE if self.device_type == "cpu" else self.device_type

    @property
    def train_key(self) -> str:
        from generator.train import TrainConfig

        training = asdict(TrainConfig(seed=self.seed, steps=self.steps))
        return json.dumps({"config": asdict(self.config), "training": training, "device_type": self.device_type,
                           "torch_version": self.torch_version, "train_arithmetic": self.arithmetic},
                          sort_keys=True)

    def train_command(self, path: str) -> str:
        steps = f" --steps {self.steps}" if self.steps != 3000 else ""
        return (f"certify train --k {self.k} --d-vocab {self.d_vocab} --seed {self.seed}{steps} "
                f"--device {self.device_type} -o {path}")


def run_key(model_id: str, strategy: Strategy) -> str:
    """The resume key: model hash (or training key before a model exists), strategy with options, checker version."""
    return f"{model_id}|{strategy.label}|checker {CHECKER_VERSION}"


@dataclass
class Summary:
    ran: int = 0
    skipped: int = 0
    failed: int = 0
    refused: int = 0
    wall_s: float = 0.0
    skipped_failed: int = 0  # failed rows kept from an earlier run (without --retry-failed)

    @property
    def failed_rows(self) -> int:
        """Rows of this sweep that are failed now: it exits non-zero while any is."""
        return self.failed + self.skipped_failed


def run_sweep(out_dir: str, configs: list[tuple[int, int]], seeds: list[int], strategies: list[Strategy] | None,
              executor, device: str | None = None, steps: int = 3000, retry_failed: bool = False,
              budget: Budget | None = None, progress: bool = True, command: str = "",
              train_stack: int | None = None) -> Summary:
    """Run every (config, seed, strategy) not already finished in out_dir/results.sqlite (strategies None: each
    configuration's `default_strategies`), training up to
    `train_stack` seeds of a configuration together (default: DEFAULT_TRAIN_STACK on the CPU, 1 on CUDA)."""
    import torch
    from tqdm import tqdm

    from generator.model import pick_device

    start = time.perf_counter()
    budget = budget or Budget()
    device_type = pick_device(device).type
    if train_stack is None:
        train_stack = DEFAULT_TRAIN_STACK if device_type == "cpu" else 1
    os.makedirs(os.path.join(out_dir, "models"), exist_ok=True)
    os.makedirs(os.path.join(out_dir, "certs"), exist_ok=True)
    conn = open_store(os.path.join(out_dir, "results.sqlite"))
    started_at = _now()
    summary = Summary()
    finished = {r["key"]: r["verdict"] for r in conn.execute("SELECT key, verdict FROM runs")}
    known = {r["train_key"]: dict(r) for r in conn.execute("SELECT * FROM models")}

    def done(key: str) -> bool:
        return key in finished and finished[key] != "refused" and (finished[key] != "failed" or not retry_failed)

    # torch threads per evaluation and proof task: more only add spinning on these small tensors (measured 6x the
    # CPU time). Training always runs on one thread, in the portable arithmetic (generator/train.py).
    threads = 1
    specs = [ModelSpec(k, v, seed, steps, device_type, torch.__version__) for k, v in configs for seed in seeds]
    to_train, to_prove = deque(), deque()
    for spec in specs:
        model_id = known[spec.train_key]["model_sha256"] if spec.train_key in known else "train:" + spec.train_key
        wanted = default_strategies(spec.k, spec.d_vocab) if strategies is None else strategies
        todo = [s for s in wanted if not done(run_key(model_id, s))]
        summary.skipped += len(wanted) - len(todo)
        summary.skipped_failed += sum(finished.get(run_key(model_id, s)) == "failed" for s in wanted if s not in todo)
        if todo:
            to_train.append((spec, todo))
    total = sum(len(todo) for _, todo in to_train)
    if summary.skipped:
        failed = (f", {summary.skipped_failed} of them failed (--retry-failed runs them again)"
                  if summary.skipped_failed else "")
        print(f"sweep: skipped {summary.skipped} finished runs (of {summary.skipped + total}){failed}; {total} to do",
              file=sys.stderr)
    bar = tqdm(total=total, desc="sweep", unit="run", disable=not progress, dynamic_ncols=True)

    def record(spec: ModelSpec, strategy: Strategy, model: dict | None, fields: dict) -> None:
        fa = (model or {}).get("float") or {}
        ci = fa.get("ci95") or [None, None]
        model_id = model["sha"] if model else "train:" + spec.train_key
        cost = estimated_cost(spec.config, strategy)
        row = {"key": run_key(model_id, strategy), "config": f"{spec.k}x{spec.d_vocab}", "k": spec.k,
               "d_vocab": spec.d_vocab, "d_model": D_MODEL, "d_head": D_HEAD, "seed": spec.seed, "steps": spec.steps,
               "device_type": spec.device_type, "model_path": model["path"] if model else None,
               "model_sha256": model["sha"] if model else None, "strategy": strategy.label,
               "float_accuracy": fa.get("accuracy"), "float_method": fa.get("method"), "float_ci_low": ci[0],
               "float_ci_high": ci[1], "train_s": (model or {}).get("train_s"), "eval_s": (model or {}).get("eval_s"),
               "train_cpu_s": (model or {}).get("train_cpu_s"), "eval_cpu_s": (model or {}).get("eval_cpu_s"),
               "train_stack": (model or {}).get("train_stack"), "train_arithmetic": spec.arithmetic,
               "estimated_work": _as_sqlite_number(cost[0]) if cost else None,
               "estimated_memory": _as_sqlite_number(cost[1]) if cost else None,
               "package_version": __version__, "checker_version": CHECKER_VERSION,
               "torch_version": spec.torch_version, "finished_at": _now(), **fields}
        _upsert(conn, "runs", row)
        finished[row["key"]] = row["verdict"]
        summary.failed += row["verdict"] == "failed"
        summary.refused += row["verdict"] == "refused"
        summary.ran += row["verdict"] in ("accepted", "rejected", "failed")
        bar.update(1)

    def model_ready(spec: ModelSpec, model: dict, todo: list[Strategy]) -> None:
        """The model exists: refuse what cannot finish, queue the rest."""
        for strategy in todo:
            cost = estimated_cost(spec.config, strategy)
            try:
                if cost is not None:
                    budget.require(*cost, f"the {strategy.label} check")
            except OverBudget as exc:
                record(spec, strategy, model, {"verdict": "refused", "error": f"refused before starting: {exc}"})
            else:
                to_prove.append((spec, strategy, model))

    def trained(spec: ModelSpec, todo: list[Strategy], out: dict) -> None:
        if "error" in out:
            for strategy in todo:
                record(spec, strategy, None, {"verdict": "failed", "error": out["error"]})
            return
        cfg = spec.config
        sha = weights_sha256(cfg, out["params"])
        path = os.path.join(out_dir, "models", spec.name + ".safetensors")
        from generator.modelio import save_model

        tmp = f"{path}.tmp{os.getpid()}"
        save_model(tmp, cfg, out["params"], out["meta"])
        os.replace(tmp, path)
        times = {name: out[name] for name in ("train_s", "eval_s", "train_cpu_s", "eval_cpu_s", "train_stack")}
        model = {"sha": sha, "path": os.path.relpath(path, out_dir), "params": out["params"], "float": out["float"],
                 **times}
        _upsert(conn, "models", {"train_key": spec.train_key, "model_sha256": sha, "model_path": model["path"],
                                 "float_json": json.dumps(out["float"]), "finished_at": _now(), **times})
        with conn:  # rows of an earlier failed training are superseded by this model's rows
            prefix = f"train:{spec.train_key}|"
            conn.execute("DELETE FROM runs WHERE substr(key, 1, ?) = ?", [len(prefix), prefix])
        model_ready(spec, model, todo)

    def load_known(spec: ModelSpec, todo: list[Strategy]) -> bool:
        """Reuse the model file of an earlier run when it is there and has the recorded hash."""
        from generator.modelio import ModelFileError, load_model

        row = known.get(spec.train_key)
        if row is None:
            return False
        try:
            cfg, params, _ = load_model(os.path.join(out_dir, row["model_path"]))
        except ModelFileError:
            return False
        if cfg != spec.config or weights_sha256(cfg, params) != row["model_sha256"]:
            return False
        model_ready(spec, {"sha": row["model_sha256"], "path": row["model_path"], "params": params,
                           "float": json.loads(row["float_json"]),
                           **{name: row[name] for name in ("train_s", "eval_s", "train_cpu_s", "eval_cpu_s",
                                                           "train_stack")}}, todo)
        return True

    def next_stack() -> list[tuple[ModelSpec, list[Strategy]]]:
        """The next seeds to train together: one configuration, models not already on disk, at most train_stack,
        and few enough that every free worker gets a stack of about the same size."""
        free = max(1, executor.workers - len(inflight))
        size = max(1, min(train_stack, -(-len(to_train) // free)))
        stack: list[tuple[ModelSpec, list[Strategy]]] = []
        while to_train and len(stack) < size:
            spec, todo = to_train[0]
            if stack and spec.config != stack[0][0].config:
                break
            to_train.popleft()
            if not load_known(spec, todo):
                stack.append((spec, todo))
        return stack

    gpu = device_type == "cuda"
    inflight: dict = {}
    try:
        while to_train or to_prove or inflight:
            while len(inflight) < executor.workers and (to_prove or to_train):
                if to_prove:  # finish started models first: rows land early, and fewer models wait in memory
                    spec, strategy, model = to_prove.popleft()
                    task = {"config": asdict(spec.config), "strategy": strategy.name,
                            "options": list(strategy.options), "device": device, "threads": threads,
                            "budget": [budget.max_work, budget.max_memory]}
                    handle = executor.submit(prove_task, task, model["params"], gpu=gpu)
                    inflight[handle] = ("prove", spec, strategy, model)
                else:
                    stack = next_stack()
                    if not stack:
                        continue
                    spec = stack[0][0]
                    task = {"config": asdict(spec.config), "device": device, "threads": threads,
                            "trainings": [{"seed": s.seed, "steps": s.steps} for s, _ in stack]}
                    inflight[executor.submit(train_task, task, gpu=gpu)] = ("train", spec, stack)
            if not inflight:
                continue
            for handle in executor.wait(list(inflight)):
                kind, spec, *rest = inflight.pop(handle)
                try:
                    out = executor.result(handle)
                except Exception as exc:  # the worker itself died (e.g. out of memory)
                    out = {"error": f"worker: {type(exc).__name__}: {exc}"}
                if kind == "train":
                    stack = rest[0]
                    for i, (member, todo) in enumerate(stack):
                        trained(member, todo, out if "error" in out else out["models"][i])
                else:
                    strategy, model = rest
                    proved(spec, strategy, model, out, record, out_dir)
    finally:
        bar.close()
        summary.wall_s = time.perf_counter() - start
        _upsert(conn, "sweeps", {"command": command, "executor": type(executor).__name__,
                                 "workers": executor.workers, "started_at": started_at, "wall_s": summary.wall_s,
                                 "ran": summary.ran, "skipped": summary.skipped, "failed": summary.failed,
                                 "refused": summary.refused})
        conn.close()
    return summary


def proved(spec: ModelSpec, strategy: Strategy, model: dict, out: dict, record, out_dir: str) -> None:
    """Write a returned certificate (atomically) and its row."""
    if "error" in out:
        record(spec, strategy, model, {"verdict": "failed", "error": out["error"]})
        return
    text = out.pop("text").encode("utf-8")
    name = f"{spec.name}.{strategy.label.replace(':', '.').replace('=', '-')}.cert"
    path = os.path.join(out_dir, "certs", name)
    _write_atomic(path, text)
    bound = Fraction(int(out["bound_num"]), int(out["bound_den"]))
    reason = out.pop("reason")
    record(spec, strategy, model, {**out, "bound": float(bound), "cert_path": os.path.relpath(path, out_dir),
                                   "cert_sha256": hashlib.sha256(text).hexdigest(),
                                   "error": reason if out["verdict"] != "accepted" else None})


def reproduce_command(row: sqlite3.Row | dict, sweep_dir: str = ".") -> str:
    """One shell line that re-trains the row's model (or, for a row whose model was trained before the portable
    arithmetic, takes its weights from the sweep folder sweep_dir) and regenerates and re-checks its certificate."""
    spec = ModelSpec(row["k"], row["d_vocab"], row["seed"], row["steps"], row["device_type"], "")
    strategy_name, *pairs = row["strategy"].split(":")
    strategy = Strategy(strategy_name, tuple(tuple(p.split("=", 1)) for p in pairs))
    cert = f"{spec.name}.cert"
    if dict(row).get("train_arithmetic") is None and row["model_path"]:  # the CPU's own kernels: shipped weights
        model = os.path.join(sweep_dir, row["model_path"])
        return f"certify generate {model} {strategy.generate_args()} -o {cert} && certcheck {cert}"
    model = f"{spec.name}.safetensors"
    return (f"{spec.train_command(model)} && certify generate {model} {strategy.generate_args()} -o {cert} "
            f"&& certcheck {cert}")
