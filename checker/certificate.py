"""Parsing a certificate (format v1) into plain data, with limits. Nothing in the file is executed."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

import numpy as np
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedInput, VisitError

from checker.model import ModelConfig, check_params

FORMAT_VERSION = 1
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_DIM = 1 << 16
MAX_TENSOR_ELEMENTS = 1 << 24


class MalformedCertificate(Exception):
    """The input is not a well-formed certificate; the message says where and why."""


@dataclass
class Certificate:
    """A parsed certificate. Witness values are int, Fraction, str, or lists of them (depth <= 2)."""

    format_version: int
    schema: str
    schema_version: int
    config: ModelConfig
    sha256: str
    params: dict[str, np.ndarray]
    witness: dict[str, object]
    claim: Fraction
    meta: dict[str, str] = field(default_factory=dict)


def hexfloat32(x: float) -> str:
    """Canonical text of a float32 value: '0x0p+0', or '[-]0x1.<hex>p<exp>' normalised, trailing zeros cut."""
    x = float(x)
    if x == 0.0:
        return "-0x0p+0" if np.signbit(x) else "0x0p+0"
    text = x.hex()  # e.g. '-0x1.8000000000000p-3', always normalised for nonzero doubles
    sign = "-" if text.startswith("-") else ""
    body = text.lstrip("-")[2:]
    mant, exp = body.split("p")
    if "." in mant:
        lead, frac = mant.split(".")
        frac = frac.rstrip("0")
        mant = lead + ("." + frac if frac else "")
    return f"{sign}0x{mant}p{exp if exp[0] in '+-' else '+' + exp}"


def _parse_hexfloat32(text: str) -> float:
    value = float.fromhex(text)
    if not np.isfinite(np.float32(value)) or float(np.float32(value)) != value or hexfloat32(value) != text:
        raise MalformedCertificate(f"float literal {text} is not a canonical float32 value")
    return value


@v_args(inline=True)
class _ToData(Transformer):
    def INT(self, tok: Token) -> int:
        return int(tok)

    def RATIONAL(self, tok: Token) -> Fraction:
        num, den = tok.split("/")
        if int(den) == 0:
            raise MalformedCertificate(f"line {tok.line}: fraction with zero denominator")
        return Fraction(int(num), int(den))

    def STRING(self, tok: Token) -> str:
        return str(tok[1:-1])

    def NAME(self, tok: Token) -> str:
        return str(tok)

    def HEXFLOAT(self, tok: Token) -> float:
        return _parse_hexfloat32(str(tok))

    def header(self, version):
        return ("header", version)

    def schema(self, name, version):
        return ("schema", (name, version))

    def field(self, name, value):
        return ("field", name, value)

    def shape(self, *dims):
        return tuple(dims)

    def tensor(self, name, shape, *values):
        return ("tensor", name, shape, values)

    def model(self, *items):
        return ("model", items)

    def entry(self, name, value):
        return (name, value)

    def vector(self, *items):
        return list(items)

    def matrix(self, *rows):
        return list(rows)

    def witness(self, *entries):
        return ("witness", entries)

    def claim(self, value):
        return ("claim", value)

    def metafield(self, name, value):
        return (name, value)

    def meta(self, *items):
        return ("meta", items)

    def start(self, *parts):
        return parts


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = os.path.join(os.path.dirname(__file__), "certificate.lark")
    with open(grammar, encoding="utf-8") as f:
        return Lark(f.read(), parser="lalr", transformer=_ToData())


def _unique(pairs, what: str) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise MalformedCertificate(f"duplicate {what} {key!r}")
        out[key] = value
    return out


def parse_certificate(text: str) -> Certificate:
    """Parse certificate text; raises MalformedCertificate with a one-line reason."""
    if len(text) > MAX_FILE_BYTES:
        raise MalformedCertificate(f"file larger than the limit of {MAX_FILE_BYTES} bytes")
    try:
        parts = _parser().parse(text)
    except UnexpectedInput as exc:
        ctx = text[max(0, exc.pos_in_stream - 20): exc.pos_in_stream + 20] if exc.pos_in_stream is not None else ""
        raise MalformedCertificate(
            f"syntax error at line {exc.line}, column {exc.column} near {ctx!r}") from None
    except VisitError as exc:
        if isinstance(exc.orig_exc, MalformedCertificate):
            raise exc.orig_exc from None
        raise MalformedCertificate(f"invalid value: {exc.orig_exc}") from None
    except (LarkError, RecursionError, ValueError) as exc:
        raise MalformedCertificate(f"cannot parse: {type(exc).__name__}") from None
    sections = {p[0]: p[1:] for p in parts}
    (version,) = sections["header"]
    if version != FORMAT_VERSION:
        raise MalformedCertificate(f"unsupported format version {version} (this checker reads {FORMAT_VERSION})")
    (schema_name, schema_version), = sections["schema"]
    (model_items,) = sections["model"]
    fields = _unique([(i[1], i[2]) for i in model_items if i[0] == "field"], "model field")
    tensors = [i for i in model_items if i[0] == "tensor"]
    try:
        config = ModelConfig(int(fields["d_vocab"]), int(fields["d_model"]), int(fields["d_head"]),
                             int(fields["n_ctx"]), str(fields["task"]))
        sha256 = str(fields["sha256"])
    except KeyError as exc:
        raise MalformedCertificate(f"model is missing field {exc.args[0]}") from None
    except (TypeError, ValueError):
        raise MalformedCertificate("model fields have the wrong type") from None
    for dim_name in ("d_vocab", "d_model", "d_head", "n_ctx"):
        if not 1 <= getattr(config, dim_name) <= MAX_DIM:
            raise MalformedCertificate(f"model field {dim_name} out of range 1..{MAX_DIM}")
    params: dict[str, np.ndarray] = {}
    for _, name, shape, values in tensors:
        if name in params:
            raise MalformedCertificate(f"duplicate tensor {name!r}")
        size = int(np.prod(shape, dtype=object)) if shape else 1
        if any(d < 0 for d in shape) or size > MAX_TENSOR_ELEMENTS:
            raise MalformedCertificate(f"tensor {name!r} has an invalid shape {list(shape)}")
        if len(values) != size:
            raise MalformedCertificate(f"tensor {name!r} has {len(values)} values, its shape {list(shape)} needs {size}")
        params[name] = np.array(values, dtype=np.float64).astype(np.float32).reshape(shape)
    try:
        check_params(config, params)
    except ValueError as exc:
        raise MalformedCertificate(f"model: {exc}") from None
    (witness_entries,) = sections["witness"]
    witness = _unique(witness_entries, "witness entry")
    (claim,) = sections["claim"]
    claim = Fraction(claim)
    meta = _unique(sections["meta"][0], "meta field") if "meta" in sections else {}
    return Certificate(version, schema_name, schema_version, config, sha256, params, witness, claim, meta)


def read_certificate(path: str) -> Certificate:
    """Read and parse a certificate file (size-limited, UTF-8)."""
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise MalformedCertificate(f"file is {size} bytes, over the limit of {MAX_FILE_BYTES}")
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedCertificate("file is not UTF-8 text") from None
    except OSError as exc:
        raise MalformedCertificate(f"cannot read file: {exc.strerror or exc}") from None
    return parse_certificate(text)
