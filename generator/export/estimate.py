"""What a formal export will cost, from the certificate's header, before any of it is done.

`certify export-coq` / `export-lean` print this estimate and refuse (exit 2, with the estimate) an export whose
own work or memory, or the proof assistant's check of the file it would write, is over the budget
(`--max-work`, `--max-memory`). Work is counted in the budget's unit (checker.budget: about 5e7 a second on one
core), so that one `--max-work` means the same wall time for `certcheck`, `certify` and `coqc`.

The figures are estimates, calibrated on this project's exports (docs/formal-export.md, "Cost estimates"); they
decide refusals, never what a file proves. During the export the work is also metered (checker.budget.charge):
an export that tries more precisions than the estimate assumes is stopped at the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from checker.budget import BASE_MEMORY, Budget, OverBudget, format_count, format_size

WORK_PER_SECOND = 5 * 10 ** 7  # the budget's unit: checker operations a second on one core (checker/budget.py)
# One exact Python Fraction operation (a multiply-add of dyadic rationals of a few hundred bits) in work units:
# about 6.5 us of CPU (measured: bf_count on d_model 4 and 32 models, 320-345 units an operation; cubic_classes
# 440 on a d_vocab 16 model). docs/formal-export.md, "Cost estimates".
FRACTION_OP_WORK = 350
# coqc: seconds of CPU per basic operation of the exported check (dyadic products of weights: 45-80 us measured
# on brute-force exports with d_model 4 and 32; 43 us on the shipped Max-of-4/64 cubic export, 86 s), plus the
# loading of the library; its memory: the library plus the file's terms (0.44-0.74 GB measured).
COQ_SECONDS_PER_OP = 6e-5
COQ_CUBIC_SECONDS_PER_OP = 4.3e-5
COQ_BASE_SECONDS = 1.0
COQ_BASE_MEMORY = 450 << 20
COQ_BYTES_PER_FILE_BYTE = 200
EXPORT_WORK_FACTOR = 50  # check-only exports: the check re-run by the export's interpreted program (pyeval)
LITERAL_BYTES = 14  # one integer mantissa in a data literal, with its separator


@dataclass(frozen=True)
class ExportEstimate:
    """work, memory: of `certify export-*` itself; file_bytes: the file it writes; prover_work, prover_memory:
    of the proof assistant's check of that file (coqc), 0 where not estimated (Lean)."""

    what: str
    work: int
    memory: int
    file_bytes: int
    prover_work: int = 0
    prover_memory: int = 0
    precisions: int = 1

    def summary(self) -> str:
        """One phrase: the export's work and time, the file size, the prover's work and time."""
        out = (f"export about {format_count(self.work)} operations (~{_duration(self.work)} on one core"
               + (f" per precision, up to {self.precisions} tried" if self.precisions > 1 else "")
               + f"), a file of about {format_size(self.file_bytes)}")
        if self.prover_work:
            out += (f"; coqc about {format_count(self.prover_work)} operations (~{_duration(self.prover_work)}) "
                    f"and {format_size(self.prover_memory)}")
        return out

    def require(self, budget: Budget) -> None:
        """Raise OverBudget (with this estimate) if the export or the prover's check exceeds the budget."""
        for work, memory, who in ((self.work, self.memory, f"exporting this {self.what}"),
                                  (self.prover_work, self.prover_memory, f"coqc's check of this {self.what}'s export")):
            try:
                budget.require(work, memory, who)
            except OverBudget as exc:
                raise OverBudget(f"{exc}; estimate: {self.summary()}") from None


def _duration(work: int) -> str:
    s = work / WORK_PER_SECOND
    if s < 90:
        return f"{s:.0f} s" if s >= 1 else "1 s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.3g} h"


def _weight_entries(cfg) -> int:
    V, K, m, h = cfg.d_vocab, cfg.n_ctx, cfg.d_model, cfg.d_head
    return V * m + K * m + 3 * m * h + h * m + m * V + 3 * h + m + V


def bf_ops_per_input(cfg) -> int:
    """Basic exact operations of the brute-force Coq check (and of its Python twin, coq_theorem.bf_count) for
    one input: the query, keys and values (affine maps), the scores, the exp bounds, the value path, and one
    margin per wrong output."""
    V, K, m, h = cfg.d_vocab, cfg.n_ctx, cfg.d_model, cfg.d_head
    return m * h + 2 * K * m * h + K * h + 2 * K * 16 + K * h * m + max(V - 1, 0) * (2 * m + K * m + 2 * K)


def cubic_ops(cfg) -> tuple[int, int]:
    """(exact table and class operations, placement tests) of the cubic Coq check and its Python twin
    (coq_cubic.cubic_classes): the products of the path tables, the V^3 minima, and for each class (q <= m, c)
    a binary search over thresholds whose test runs over the C(K-1, c) placements."""
    V, K, m, h = cfg.d_vocab, cfg.n_ctx, cfg.d_model, cfg.d_head
    tables = V * m * h * 3 + V * V * h * 2 + V * m * V * 2 + K * m * V * 2 + V * V * 4
    classes = 3 * V ** 3
    n = max(K - 1, 0)
    search = max(1, math.ceil(math.log2(V + 1)))
    placements = (V * (V + 1) // 2) * search * (2 ** n) * (n + 1)
    return tables + classes, placements


def estimate_export(cert, language: str) -> ExportEstimate | None:
    """The cost of `certify export-LANGUAGE` on a parsed certificate, or None for a schema without an export
    (the export itself then says so)."""
    cfg = cert.config
    total = cfg.d_vocab ** cfg.n_ctx
    literal_bytes = LITERAL_BYTES * _weight_entries(cfg) + 1200  # the data literal and the file's fixed text
    if language == "coq" and cert.schema == "brute-force" and cert.schema_version == 1:
        from generator.export.coq_theorem import PRECISIONS

        ops = bf_ops_per_input(cfg) * total
        prover_s = COQ_BASE_SECONDS + COQ_SECONDS_PER_OP * ops
        return ExportEstimate(
            what="brute-force certificate", work=FRACTION_OP_WORK * ops, memory=BASE_MEMORY + 4 * literal_bytes,
            file_bytes=literal_bytes, prover_work=int(prover_s * WORK_PER_SECOND),
            prover_memory=COQ_BASE_MEMORY + COQ_BYTES_PER_FILE_BYTE * literal_bytes, precisions=len(PRECISIONS))
    if language == "coq" and cert.schema == "cubic" and cert.schema_version == 1:
        from generator.export.coq_cubic import PRECISIONS

        tables, placements = cubic_ops(cfg)
        hint_bytes = 3 * cfg.d_vocab * cfg.d_vocab * cfg.n_ctx
        file_bytes = literal_bytes + hint_bytes
        n = max(cfg.n_ctx - 1, 0)
        sels_memory = (2 ** n) * (64 + 8 * n)  # the placements as tuples, kept for every c
        prover_s = COQ_BASE_SECONDS + COQ_CUBIC_SECONDS_PER_OP * (tables + placements)
        return ExportEstimate(
            what="cubic certificate", work=FRACTION_OP_WORK * (tables + placements),
            memory=BASE_MEMORY + 200 * 12 * cfg.d_vocab ** 2 + sels_memory + 4 * file_bytes, file_bytes=file_bytes,
            prover_work=int(prover_s * WORK_PER_SECOND),
            prover_memory=COQ_BASE_MEMORY + COQ_BYTES_PER_FILE_BYTE * file_bytes + 400 * cfg.d_vocab ** 2,
            precisions=len(PRECISIONS))
    # check-only programs (Lean, and Coq through the Python API): the schema's check, interpreted (pyeval)
    from checker.budget import schema_estimate

    est = schema_estimate(cert.schema, cert.schema_version, cert.config, cert.witness)
    if est is None:
        return None
    work, memory = est
    if cert.schema == "brute-force":  # the exported program enumerates all d_vocab^K inputs as lists
        memory += 4 * total * (64 + 8 * cfg.n_ctx)
    return ExportEstimate(what=f"{cert.schema} certificate", work=work * EXPORT_WORK_FACTOR, memory=memory,
                          file_bytes=literal_bytes + 22_000)  # + the check's definitions


class Progress:
    """`certify export-coq FILE: what done/total` on one stderr line, rewritten at most every half second; the
    work done so far is charged to the active budget meter (checker.budget.charge)."""

    def __init__(self, label: str, enabled: bool):
        self.label = label
        self.enabled = enabled
        self.shown = False
        self._last = 0.0

    def __call__(self, what: str, done: int, total: int, work: int = 0) -> None:
        import sys
        import time

        from checker.budget import charge

        if work:
            charge(work, f"exporting ({what})")
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.5:
            return
        self._last = now
        print(f"\r{self.label}: {what} {done}/{total}\033[K", end="", file=sys.stderr, flush=True)
        self.shown = True

    def clear(self) -> None:
        import sys

        if self.shown:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
            self.shown = False
