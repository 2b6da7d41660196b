"""Checking a certificate: hash, schema, recomputed bound against the claim."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction

import flint

from checker.budget import UNLIMITED, Budget, OverBudget, metered, schema_estimate, table_estimate
from checker.certificate import Certificate, MalformedCertificate, bounded, fraction_text, read_certificate
from checker.exact import float_environment_ok
from checker.maxofk import build_tables
from checker.model import check_params, weights_sha256
from checker.schemas import Rejected, SchemaResult, schema_registry


@dataclass
class Verdict:
    """The outcome for one file: verdict is 'accepted', 'rejected', 'malformed' (unreadable input) or 'refused'
    (over the work or memory budget, or out of resources: nothing was decided)."""

    file: str
    verdict: str
    reason: str = ""
    bound: Fraction | None = None
    claim: Fraction | None = None
    schema: str = ""
    model_sha256: str = ""
    inputs: int | None = None  # the task's number of inputs, d_vocab^n_ctx, when the certificate was read
    seconds: float = 0.0
    result: SchemaResult | None = None
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        r = self.result
        return {
            "file": self.file,
            "verdict": self.verdict,
            "bound": fraction_text(self.bound) if self.bound is not None else None,
            "bound_float": float(self.bound) if self.bound is not None else None,
            "claim": fraction_text(self.claim) if self.claim is not None else None,
            "schema": self.schema,
            "model_sha256": self.model_sha256,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            "proof_length": r.proof_length if r else None,
            "complexity_class": r.complexity_class if r else None,
            "complexity": r.complexity if r else None,
            "unexplained_dimension": r.unexplained_dimension if r else None,
            "details": r.details if r else {},
        }


def check_certificate(cert: Certificate, file: str = "<certificate>", progress=None,
                      budget: Budget | None = None) -> Verdict:
    """Recompute the certificate's bound and compare it with its claim. With a budget, a check whose estimated
    work or memory (the schema's `estimate`) exceeds it is refused before any heavy work."""
    start = time.perf_counter()
    schema = f"{cert.schema} v{cert.schema_version}"
    verdict = Verdict(file, "rejected", schema=schema, model_sha256=cert.sha256, claim=cert.claim,
                      inputs=cert.config.d_vocab ** cert.config.n_ctx)
    check = schema_registry().get((cert.schema, cert.schema_version))
    if check is None:
        verdict.reason = f"unknown proof schema {schema}"
        verdict.verdict = "malformed"
        return verdict
    try:  # the parser checks this for a file; a Certificate built in code may not agree with its weights
        check_params(cert.config, cert.params)
    except ValueError as exc:
        verdict.reason, verdict.verdict = bounded(f"model: {exc}"), "malformed"
        return verdict
    work = 0
    if budget is not None:
        try:
            budget.require(*table_estimate(cert.config, cert.params), "building this model's exact tables")
            work, memory = schema_estimate(cert.schema, cert.schema_version, cert.config, cert.witness, cert.params)
            budget.require(work, memory, f"checking this {schema} certificate")
        except OverBudget as exc:
            verdict.verdict, verdict.reason = "refused", str(exc)
            return verdict
    actual = weights_sha256(cert.config, cert.params)
    if actual != cert.sha256:
        verdict.reason = f"weight hash mismatch: the weights hash to {actual}, the certificate says {cert.sha256}"
        return verdict
    if not float_environment_ok():
        verdict.reason = "this process flushes subnormal floats to zero; the checker's error bounds assume IEEE 754"
        return verdict
    if not 0 <= cert.claim <= 1:
        verdict.reason = f"claim {fraction_text(cert.claim)} is not an accuracy in [0, 1]"
        return verdict
    old_prec = flint.ctx.prec
    flint.ctx.prec = 128
    try:
        with metered(budget or UNLIMITED, start=work):
            tables = build_tables(cert.config, cert.params)
            result = check(cert, tables, progress=progress)
    except Rejected as exc:
        verdict.reason = bounded(str(exc))
        verdict.seconds = time.perf_counter() - start
        return verdict
    except OverBudget as exc:
        verdict.verdict, verdict.reason = "refused", str(exc)
        verdict.seconds = time.perf_counter() - start
        return verdict
    finally:
        flint.ctx.prec = old_prec
    verdict.result = result
    verdict.bound = result.bound
    verdict.seconds = time.perf_counter() - start
    if result.bound >= cert.claim:
        verdict.verdict = "accepted"
    else:
        verdict.reason = bounded(f"claim {fraction_text(cert.claim)} ({float(cert.claim):.6f}) exceeds the bound "
                                 f"the checker proved, {fraction_text(result.bound)} ({float(result.bound):.6f})")
    return verdict


def check_file(path: str, budget: Budget | None = None, progress=None, model_sha256: str | None = None) -> Verdict:
    """Read, parse and check one certificate file: malformed input gives a 'malformed' verdict, input over the
    budget (by estimate, before the work) or exhausting memory or recursion a 'refused' one. With model_sha256,
    a certificate about other weights is rejected."""
    start = time.perf_counter()
    try:
        try:
            cert = read_certificate(path, budget)
        except MalformedCertificate as exc:
            return Verdict(path, "malformed", reason=str(exc), seconds=time.perf_counter() - start)
        except OverBudget as exc:
            return Verdict(path, "refused", reason=str(exc), seconds=time.perf_counter() - start)
        if model_sha256 is not None and cert.sha256 != model_sha256:
            return Verdict(path, "rejected", reason=f"the certificate is about the weights with hash {cert.sha256}, "
                                                     f"not the given model's {model_sha256}",
                           schema=f"{cert.schema} v{cert.schema_version}", model_sha256=cert.sha256,
                           claim=cert.claim, seconds=time.perf_counter() - start)
        verdict = check_certificate(cert, path, progress=progress, budget=budget)
        verdict.reason = bounded(verdict.reason)
    except MemoryError:
        return Verdict(path, "refused", reason="out of memory (raise the limits or check on a larger machine)",
                       seconds=time.perf_counter() - start)
    except RecursionError:
        return Verdict(path, "refused", reason="recursion too deep", seconds=time.perf_counter() - start)
    verdict.seconds = time.perf_counter() - start
    return verdict
