"""Work and memory budgets: refuse a check (or a generator command) whose estimate exceeds them, before any
heavy work. Every schema module exposes `estimate(config, witness, params=None) -> (work, memory bytes)`
(params: the weights, whose bit lengths the tables' estimate charges); this module calls it through the schema
registry, so a new schema plugs in without changes here.

A refusal is never an acceptance: `certcheck` reports it as exit 2 ("over budget"), with the estimate and the
flag that raises the limit.
"""

from __future__ import annotations

import re
from argparse import ArgumentTypeError
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

# About what 2 cores do in 10 minutes of checking (benchmarks/bench_budget.py measures the checker's rate on the
# shipped certificates: brute force, the bulk of the work, does about 5e7 operations per second on one core).
DEFAULT_MAX_WORK = 6 * 10 ** 10
# Well inside a laptop's memory.
DEFAULT_MAX_MEMORY = 4 << 30

# Memory model shared by the estimates (bytes): a float64 array entry; an exact table entry in all its copies
# (exact_entry_bytes). (The parser bounds the witness to 2^24 scalars.)
WITNESS_SCALAR_BYTES = 160  # one parsed witness value: measured 72 bytes an int, 131 a Fraction, with its list slot
FLOAT_ENTRY_BYTES = 8
BASE_MEMORY = 256 << 20  # the interpreter, numpy and flint themselves
# Work of one interpreted step (a Python-level loop iteration or numpy call) and of one arb operation, in the
# unit of the proof length (a vectorised arithmetic operation): estimates add these where Python loops dominate.
PY_STEP_WORK = 100
ARB_OP_WORK = 400


class OverBudget(Exception):
    """The estimated work or memory exceeds the budget; the message gives the estimate and the flag to raise it."""


@dataclass(frozen=True)
class Budget:
    """Limits on the checker operations and the peak memory (bytes) of one check or generator command."""

    max_work: int = DEFAULT_MAX_WORK
    max_memory: int = DEFAULT_MAX_MEMORY

    def require(self, work: int, memory: int, what: str) -> None:
        """Raise OverBudget unless work <= max_work and memory <= max_memory."""
        if work > self.max_work:
            raise OverBudget(f"over budget: {what} needs about {format_count(work)} operations, more than the "
                             f"limit of {format_count(self.max_work)} (raise it with --max-work N)")
        if memory > self.max_memory:
            raise OverBudget(f"over budget: {what} needs about {format_size(memory)} of memory, more than the "
                             f"limit of {format_size(self.max_memory)} (raise it with --max-memory SIZE)")


UNLIMITED = Budget(max_work=1 << 200, max_memory=1 << 200)


def format_count(n: int) -> str:
    """A count in 3 significant digits, '7.86e+24', or '10^19728' (rounded down) beyond the float range."""
    n = int(n)
    if n < 10 ** 300:
        return f"{float(n):.3g}"
    return f"10^{int((n.bit_length() - 1) * 0.30103)}"


def format_size(n: int) -> str:
    """Bytes in binary units: '4 GiB', '1.5 MiB'."""
    if n >= 1 << 50:
        return f"{format_count(n >> 40)} TiB"
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.3g} {unit}"
    return f"{n} B"


class SizeError(ValueError, ArgumentTypeError):
    """A bad size: a ValueError that argparse prints as it is (not as "invalid parse_size value")."""


_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*", re.I)


def parse_size(text: str) -> int:
    """'4G', '512MiB', '1.5 GB', '1000000' -> bytes (binary multiples); raises ValueError."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise SizeError(f"not a size: {text!r} (a byte count with an optional suffix K, M, G or T, binary "
                        f"multiples, e.g. 4G, 512MiB, 1.5GB, 1000000)")
    value = float(match.group(1)) * (1 << (10 * " kmgt".index(match.group(2).lower() or " ")))
    if value == float("inf"):  # a decimal beyond the float range
        raise SizeError(f"not a size: {text!r} (too large)")
    return int(value)


def parse_work(text: str) -> int:
    """'1e11', '60000000000' -> an operation count; raises ValueError."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not an operation count: {text!r} (e.g. 1e11)") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"not an operation count: {text!r} (e.g. 1e11)")
    return int(value)


def add_budget_arguments(parser) -> None:
    """The --max-work and --max-memory options (certcheck and certify use the same)."""
    parser.add_argument("--max-work", type=parse_work, default=DEFAULT_MAX_WORK, metavar="N",
                        help=f"refuse (exit 2) work estimated above N checker operations (default {DEFAULT_MAX_WORK:.3g})")
    parser.add_argument("--max-memory", type=parse_size, default=DEFAULT_MAX_MEMORY, metavar="SIZE",
                        help=f"refuse (exit 2) memory estimated above SIZE, e.g. 8G (default "
                             f"{format_size(DEFAULT_MAX_MEMORY)})")


def budget_from_args(args) -> Budget:
    return Budget(args.max_work, args.max_memory)


# Bit length of the table entries assumed before the weights are read (trained models give 150 to 170 bits;
# weights spanning float32's exponent range give over 1000, which the estimate from the weights charges).
TYPICAL_TABLE_BITS = 256


def exact_entry_bytes(bits: int) -> int:
    """Peak bytes of one exact table entry of `bits` bits in all its copies: the fmpz_mat's, the fmpz objects
    and the Python ints that the conversions make (Dyadic.ints, to_float64, dyadic_interval), each about 50 bytes
    of object and list overhead plus the 64-bit limbs (measured: 168 bytes an entry at 119 bits, 365 at 869)."""
    return 160 + 3 * 8 * -(-bits // 64)


def table_estimate(config, params: dict | None = None) -> tuple[int, int]:
    """Work and memory of building the exact path tables (checker.maxofk.build_tables), which every check does,
    and of converting them to Python ints and floats: by the entries' bit length bound from the weights
    (checker.maxofk.table_bits), or TYPICAL_TABLE_BITS without them. Big integers cost per 64-bit limb."""
    from checker.maxofk import table_bits, table_ops

    V, K, m, h = config.d_vocab, config.n_ctx, config.d_model, config.d_head
    entries = 3 * V * V + 2 * V * K + V * m + 3 * m * h + 2 * V * h + m * V + K * m
    bits = TYPICAL_TABLE_BITS if params is None else table_bits(config, params)
    limbs = -(-bits // 64)
    work = table_ops(config) * limbs + PY_STEP_WORK * entries * (8 + limbs) // 8
    return work, BASE_MEMORY + exact_entry_bytes(bits) * entries


def schema_estimate(schema: str, version: int, config, witness: dict,
                    params: dict | None = None) -> tuple[int, int] | None:
    """(work, memory) of checking with a registered schema (its module's `estimate`, found through the schema
    registry; the tables charged by the weights' bit lengths when params are given), or None when the schema is
    unknown."""
    import importlib

    from checker.schemas import schema_registry

    check = schema_registry().get((schema, version))
    if check is None:
        return None
    estimate = getattr(importlib.import_module(check.__module__), "estimate", None)
    if estimate is None:
        raise OverBudget(f"over budget: schema {schema} v{version} has no work estimate, so it cannot be bounded")
    return estimate(config, witness, params)


# --- A meter for work that only becomes known during a check (e.g. inputs sent to an exact path) ------------

_METER: ContextVar["WorkMeter | None"] = ContextVar("work_meter", default=None)


class WorkMeter:
    """Counts work charged during a check and raises OverBudget when it passes the limit."""

    def __init__(self, budget: Budget):
        self.budget = budget
        self.work = 0

    def charge(self, work: int, what: str) -> None:
        self.work += work
        if self.work > self.budget.max_work:
            raise OverBudget(f"over budget: {what}: the work reaches {format_count(self.work)} operations, more "
                             f"than the limit of {format_count(self.budget.max_work)} (raise it with --max-work N)")


@contextmanager
def metered(budget: Budget, start: int = 0):
    """Within the block, `charge` counts against `budget` (starting from `start`, the estimate already spent)."""
    meter = WorkMeter(budget)
    meter.work = start
    token = _METER.set(meter)
    try:
        yield meter
    finally:
        _METER.reset(token)


def charge(work: int, what: str) -> None:
    """Charge work to the active meter, if any (raises OverBudget past its limit); a no-op outside `metered`."""
    meter = _METER.get()
    if meter is not None:
        meter.charge(work, what)
