"""The canonical certificate writer (format v1). write(parse(text)) == text for canonical text."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from checker.certificate import FORMAT_VERSION, Certificate, hexfloat32
from checker.model import PARAM_NAMES


def _scalar(value) -> str:
    if isinstance(value, bool):
        raise TypeError("booleans are not certificate values")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, str):
        if '"' in value or "\\" in value or "\n" in value:
            raise ValueError(f"string {value!r} cannot be written in a certificate")
        return f'"{value}"'
    raise TypeError(f"cannot write {type(value).__name__} in a certificate")


def _value(value) -> str:
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], (list, tuple)):
            rows = "\n".join("    " + _value(row) for row in value)
            return "[\n" + rows + "\n  ]"
        if all(type(v) is int for v in value):  # the common case (gaps, counts): str is _scalar for a plain int
            return "[" + " ".join(map(str, value)) + "]"
        return "[" + " ".join(_scalar(v) for v in value) + "]"
    return _scalar(value)


def format_certificate(cert: Certificate) -> str:
    """The canonical text of a certificate."""
    cfg = cert.config
    out = [f"compact-proofs-certificate {FORMAT_VERSION}", f'schema "{cert.schema}" {cert.schema_version}', "model {"]
    out += [f'  task "{cfg.task}"', f"  d_vocab {cfg.d_vocab}", f"  d_model {cfg.d_model}",
            f"  d_head {cfg.d_head}", f"  n_ctx {cfg.n_ctx}", f'  sha256 "{cert.sha256}"']
    for name in PARAM_NAMES:
        arr = np.asarray(cert.params[name], dtype=np.float32)
        out.append(f'  tensor "{name}" [{" ".join(str(d) for d in arr.shape)}] {{')
        rows = arr.reshape(-1, arr.shape[-1]) if arr.ndim else arr.reshape(1, 1)
        for row in rows:
            out.append("    " + " ".join(hexfloat32(x) for x in row.tolist()))
        out.append("  }")
    out.append("}")
    out.append("witness {")
    out += [f"  {key} {_value(value)}" for key, value in cert.witness.items()]
    out.append("}")
    out.append(f"claim {cert.claim.numerator}/{cert.claim.denominator}")
    if cert.meta:
        out.append("meta {")
        out += [f"  {key} {_scalar(str(value))}" for key, value in cert.meta.items()]
        out.append("}")
    return "\n".join(out) + "\n"


def write_certificate(path: str, cert: Certificate) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(format_certificate(cert))
