"""Proof schemas: each module checks one kind of witness and returns the bound it proves."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction


class Rejected(Exception):
    """The certificate's claim does not follow; the message names the step that failed."""


@dataclass
class SchemaResult:
    """What a schema proved: accuracy >= bound, and the costs of the proof."""

    bound: Fraction
    proof_length: int  # arithmetic operations and comparisons the checker performed
    complexity_class: str  # the paper's classes by power of d_vocab: "exponential", "quartic", "cubic", "subcubic"
    complexity: str  # the cost formula, e.g. "d_vocab^3 n_ctx log n_ctx"
    unexplained_dimension: int
    details: dict = field(default_factory=dict)


def schema_registry() -> dict[tuple[str, int], object]:
    """(name, version) -> check function(cert, tables, progress=None) -> SchemaResult.

    progress, if given, is called as progress(done, total) during long checks."""
    from checker.schemas import branch_and_bound, brute_force, cubic, subcubic

    return {
        ("brute-force", 1): brute_force.check,
        ("cubic", 1): cubic.check,
        ("subcubic", 2): subcubic.check,
        ("branch-and-bound", 1): branch_and_bound.check,
    }
