"""Parsing a certificate (format v1) into plain data, with limits. Nothing in the file is executed.

The syntax is the grammar in certificate.lark (its specification). This module reads it with a recursive-descent
parser whose terminals are the grammar's own regular expressions, read from that file, and whose cost is linear
in the file: numeric bodies are read in chunks, and every limit (the number of tensor values, witness entries
and witness scalars) is known from the declared shapes before the values are read and is enforced as they are.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

import numpy as np

from checker.model import ModelConfig, check_params

FORMAT_VERSION = 1
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_DIM = 1 << 16
MAX_TENSOR_ELEMENTS = 1 << 24
MAX_WITNESS_ENTRIES = 64
MAX_FIELDS = 64  # model fields and meta fields, each
MAX_WITNESS_SCALARS = 1 << 24
MAX_REASON = 300  # characters of a one-line reason; longer ones are cut with "…"


class MalformedCertificate(Exception):
    """The input is not a well-formed certificate; the message (one line, bounded) says where and why."""

    def __init__(self, message: str):
        super().__init__(bounded(message))


def bounded(text: str, limit: int = MAX_REASON) -> str:
    """text on one line, cut to at most `limit` characters with "…"."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


MAX_SHOWN_DIGITS = 100  # a fraction in a verdict is written out exactly up to this many digits a term


def fraction_text(x: Fraction, inputs: int | None = None) -> str:
    """'num/den', over the number of inputs when given and x * inputs is whole (16772808/16777216, as inputs
    counted, rather than the reduced 2096601/2097152); for terms of more than MAX_SHOWN_DIGITS digits (a bound over
    d_vocab^n_ctx inputs can have tens of thousands; Python refuses int -> str beyond 4300 digits) 'a fraction with
    a B-bit denominator'."""
    if inputs is not None and inputs < 10 ** MAX_SHOWN_DIGITS and (x * inputs).denominator == 1:
        return f"{(x * inputs).numerator}/{inputs}"
    if max(abs(x.numerator), x.denominator) < 10 ** MAX_SHOWN_DIGITS:
        return f"{x.numerator}/{x.denominator}"
    return f"a fraction with a {x.denominator.bit_length()}-bit denominator"


def witness_scalar_limit(cfg: ModelConfig) -> int:
    """The most scalars a witness may hold, from the declared shapes: room for any schema's tables over
    (query, max, token) and (query, max, copies) cases and for low-rank factors, and at most 2^24."""
    V, K = cfg.d_vocab, cfg.n_ctx
    return min(MAX_WITNESS_SCALARS, 8 * V ** 3 + 8 * V * V * K + 4 * V * (cfg.d_model + cfg.d_head) + (1 << 16))


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
    with np.errstate(over="ignore"):
        as_f32 = np.float32(value)
    if not np.isfinite(as_f32) or float(as_f32) != value or hexfloat32(value) != text:
        raise MalformedCertificate(f"float literal {text} is not a canonical float32 value")
    return value



@lru_cache(maxsize=1)
def _terminals() -> dict[str, re.Pattern]:
    """The grammar's terminals (NAME: /regex/ lines of certificate.lark), compiled."""
    grammar = os.path.join(os.path.dirname(__file__), "certificate.lark")
    with open(grammar, encoding="utf-8") as f:
        found = dict(re.findall(r"^([A-Z]+): /(.*)/$", f.read(), re.M))
    return {name: re.compile(pattern) for name, pattern in found.items()}


@lru_cache(maxsize=1)
def _skip() -> re.Pattern:
    """What %ignore skips: common.WS and the grammar's COMMENT."""
    return re.compile(r"(?:[ \t\f\r\n]+|" + _terminals()["COMMENT"].pattern + ")*")


_SPACE = re.compile(r"[ \t\f\r\n]")
_OTHER_SPACE = re.compile(r"[^\S \t\f\r\n]")  # whitespace that common.WS does not include
# The canonical text of a float32 value (what hexfloat32 writes), for the fast path; its value must also be
# exactly a finite float32, which is checked on the whole array.
_CANONICAL_HEX = re.compile(r"-?0x(?:0p\+0|1(?:\.[0-9a-f]{0,5}[1-9a-f])?p(?:\+0|[+-][1-9][0-9]{0,2}))")
_INT_CHARS = re.compile(r"[ \t\f\r\n0-9-]*")  # a body of integers: int() then reads exactly -?[0-9]+
_CHUNK = 1 << 20  # characters of a numeric body read at once


class _Parser:
    """Recursive descent over the grammar; each method reads one rule at self.pos."""

    def __init__(self, text: str, budget=None):
        self.text = text
        self.pos = 0
        self.budget = budget
        self.t = _terminals()
        self.ignored = _skip()
        # set again from the model's shapes (and the budget) once the model block is read
        self.scalar_limit = self.scalars_left = self.scalars_in_memory = MAX_WITNESS_SCALARS
        self.memory_left = 0

    # --- lexing -----------------------------------------------------------------------------------------------
    def _where(self, pos: int | None = None) -> str:
        pos = self.pos if pos is None else pos
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return f"line {line}, column {column}"

    def error(self, what: str, pos: int | None = None) -> MalformedCertificate:
        pos = self.pos if pos is None else pos
        near = self.text[pos: pos + 20]
        return MalformedCertificate(f"syntax error at {self._where(pos)}: {what}" + (f" near {near!r}" if near else
                                                                                      " at the end of the file"))

    def skip(self) -> int:
        """Past whitespace and comments; returns the new position."""
        self.pos = self.ignored.match(self.text, self.pos).end()
        return self.pos

    def peek_literal(self, literal: str) -> bool:
        self.skip()
        return self.text.startswith(literal, self.pos)

    def literal(self, literal: str) -> None:
        if not self.peek_literal(literal):
            raise self.error(f"expected {literal!r}")
        self.pos += len(literal)

    def match(self, terminal: str) -> str | None:
        self.skip()
        m = self.t[terminal].match(self.text, self.pos)
        if m is None:
            return None
        self.pos = m.end()
        return m.group()

    def expect(self, *terminals: str) -> tuple[str, str]:
        for terminal in terminals:
            value = self.match(terminal)
            if value is not None:
                return terminal, value
        raise self.error(f"expected {' or '.join(terminals)}")

    def name(self, keyword: str | None = None) -> str | None:
        """A NAME, unless it is spelled like `keyword`, the keyword that may also come here (lark's contextual
        lexer makes a keyword of such a NAME, and only of the keywords that the parser state accepts)."""
        start = self.pos
        value = self.match("NAME")
        if value is not None and value == keyword:
            self.pos = start
            return None
        return value

    # --- values -----------------------------------------------------------------------------------------------
    def scalar_value(self, kind: str, text: str, pos: int):
        if kind == "INT":
            return int(text)
        if kind == "RATIONAL":
            num, den = text.split("/")
            if int(den) == 0:
                raise MalformedCertificate(f"{self._where(pos)}: fraction with zero denominator")
            return Fraction(int(num), int(den))
        return text[1:-1]

    def count_scalars(self, n: int) -> None:
        self.scalars_left -= n
        if self.scalars_left < 0:
            raise MalformedCertificate(f"witness holds more than {self.scalar_limit} scalars, the limit for this "
                                       f"model's shapes")
        if self.scalar_limit - self.scalars_left > self.scalars_in_memory:
            from checker.budget import OverBudget, WITNESS_SCALAR_BYTES, format_size

            raise OverBudget(f"over budget: the witness's values need more than {format_size(self.memory_left)} "
                             f"of memory (about {WITNESS_SCALAR_BYTES} bytes each) beside this model's exact tables, "
                             f"more than the limit of {format_size(self.budget.max_memory)} (raise it with "
                             f"--max-memory SIZE)")

    def scalar(self):
        pos = self.skip()
        kind, text = self.expect("RATIONAL", "INT", "STRING")
        self.count_scalars(1)
        return self.scalar_value(kind, text, pos)

    def _chunks(self, end: int):
        """text[self.pos:end] split on whitespace, in chunks of about _CHUNK characters."""
        start = self.pos
        while start < end:
            stop = min(end, start + _CHUNK)
            if stop < end:
                m = _SPACE.search(self.text, stop, end)
                stop = m.start() if m else end
            yield self.text[start:stop].split()
            start = stop

    def _plain_body(self, end: int) -> bool:
        """Whether text[self.pos:end] holds only common.WS and no comment (so that a split gives its tokens)."""
        return self.text.find("#", self.pos, end) < 0 and _OTHER_SPACE.search(self.text, self.pos, end) is None

    def vector(self) -> list:
        """'[' scalar* ']' (the caller read '['); a body of plain integers is read in chunks."""
        end = self.text.find("]", self.pos)
        if end >= 0 and _INT_CHARS.fullmatch(self.text, self.pos, end):
            out: list = []
            for parts in self._chunks(end):
                self.count_scalars(len(parts))
                try:  # INT is -?[0-9]{1,2000}: int() of a token of these characters reads exactly -?[0-9]+
                    if parts and max(map(len, parts)) > 2000:
                        raise ValueError
                    values = list(map(int, parts))
                except ValueError:
                    break
                out.extend(values)
            else:
                self.pos = end + 1
                return out
            self.scalars_left += len(out) + len(parts)  # not plain: read token by token, from the start
        out = []
        while not self.peek_literal("]"):
            out.append(self.scalar())
        self.pos += 1
        return out

    def value(self):
        """scalar | vector | matrix."""
        if not self.peek_literal("["):
            return self.scalar()
        self.pos += 1
        if not self.peek_literal("["):
            return self.vector()
        rows = []
        while self.peek_literal("["):
            self.pos += 1
            self.count_scalars(1)  # a row counts as a scalar, so that empty rows are bounded too
            rows.append(self.vector())
        self.literal("]")
        return rows

    def hexfloats(self, name: str, size: int) -> np.ndarray:
        """HEXFLOAT* '}' (the caller read '{'): exactly `size` canonical float32 values."""
        end = self.text.find("}", self.pos)
        values = np.empty(size, dtype=np.float64)
        filled = 0
        if end >= 0 and self._plain_body(end):
            for parts in self._chunks(end):
                if filled + len(parts) > size or not all(map(_CANONICAL_HEX.fullmatch, parts)):
                    break
                values[filled: filled + len(parts)] = list(map(float.fromhex, parts))
                filled += len(parts)
            else:
                if filled == size:
                    with np.errstate(over="ignore", invalid="ignore"):
                        as_f32 = values.astype(np.float32)
                    if np.all(np.isfinite(as_f32)) and np.array_equal(as_f32.astype(np.float64), values):
                        self.pos = end + 1
                        return as_f32
        filled = 0  # token by token: the exact reason for what the fast path could not take
        while True:
            self.skip()
            text = self.match("HEXFLOAT")
            if text is None:
                break
            if filled == size:
                raise MalformedCertificate(f"tensor {name!r} has more than the {size} values its shape needs")
            values[filled] = _parse_hexfloat32(text)
            filled += 1
        self.literal("}")
        if filled != size:
            raise MalformedCertificate(f"tensor {name!r} has {filled} values, its shape needs {size}")
        return values.astype(np.float32)

    # --- sections ---------------------------------------------------------------------------------------------
    def model(self, fields_out: dict, params: dict) -> ModelConfig:
        self.literal("model")
        self.literal("{")
        while True:
            start = self.pos
            field_name = self.name("tensor")
            if field_name is None:
                self.pos = start
                break
            if field_name in fields_out:
                raise MalformedCertificate(f"duplicate model field {field_name!r}")
            if len(fields_out) == MAX_FIELDS:
                raise MalformedCertificate(f"model has more than {MAX_FIELDS} fields")
            kind, text = self.expect("INT", "STRING")
            fields_out[field_name] = int(text) if kind == "INT" else text[1:-1]
        config = _config(fields_out)
        self.scalar_limit = self.scalars_left = self.scalars_in_memory = witness_scalar_limit(config)
        if self.budget is not None:
            from checker.budget import WITNESS_SCALAR_BYTES, table_estimate

            work, memory = table_estimate(config)
            self.budget.require(work, memory, "building this model's exact tables")
            self.memory_left = self.budget.max_memory - memory  # what the witness's values may take
            self.scalars_in_memory = self.memory_left // WITNESS_SCALAR_BYTES
        expected = config.shapes()
        while self.peek_literal("tensor"):
            self.pos += len("tensor")
            _, text = self.expect("STRING")
            name = text[1:-1]
            self.literal("[")
            dims = []
            while True:
                dim = self.match("INT")
                if dim is None:
                    break
                if len(dims) == 3:
                    raise MalformedCertificate(f"tensor {name!r} has more than 3 dimensions")
                dims.append(int(dim))
            self.literal("]")
            if name in params:
                raise MalformedCertificate(f"duplicate tensor {name!r}")
            if name not in expected:
                raise MalformedCertificate(f"model: unexpected tensor {name}")
            if tuple(dims) != expected[name]:
                raise MalformedCertificate(f"model: tensor {name} has shape {tuple(dims)}, expected {expected[name]}")
            size = int(np.prod(dims, dtype=object)) if dims else 1
            if size > MAX_TENSOR_ELEMENTS:
                raise MalformedCertificate(f"tensor {name!r} has {size} elements, over the limit of "
                                           f"{MAX_TENSOR_ELEMENTS}")
            self.literal("{")
            params[name] = self.hexfloats(name, size).reshape(dims)
        self.literal("}")
        return config

    def parse(self) -> Certificate:
        self.literal("compact-proofs-certificate")
        version = int(self.expect("INT")[1])
        if version != FORMAT_VERSION:
            raise MalformedCertificate(f"unsupported format version {version} (this checker reads {FORMAT_VERSION})")
        self.literal("schema")
        schema_name = self.expect("STRING")[1][1:-1]
        schema_version = int(self.expect("INT")[1])
        fields: dict = {}
        params: dict[str, np.ndarray] = {}
        config = self.model(fields, params)
        try:
            check_params(config, params)
        except ValueError as exc:
            raise MalformedCertificate(f"model: {exc}") from None
        self.literal("witness")
        self.literal("{")
        witness: dict = {}
        while True:
            start = self.pos
            entry = self.name()
            if entry is None:
                self.pos = start
                break
            if entry in witness:
                raise MalformedCertificate(f"duplicate witness entry {entry!r}")
            if len(witness) == MAX_WITNESS_ENTRIES:
                raise MalformedCertificate(f"witness has more than {MAX_WITNESS_ENTRIES} entries")
            witness[entry] = self.value()
        self.literal("}")
        self.literal("claim")
        pos = self.skip()
        kind, text = self.expect("RATIONAL", "INT")
        claim = Fraction(self.scalar_value(kind, text, pos))
        meta: dict = {}
        if self.peek_literal("meta"):
            self.pos += len("meta")
            self.literal("{")
            while True:
                start = self.pos
                key = self.name()
                if key is None:
                    self.pos = start
                    break
                if key in meta:
                    raise MalformedCertificate(f"duplicate meta field {key!r}")
                if len(meta) == MAX_FIELDS:
                    raise MalformedCertificate(f"meta has more than {MAX_FIELDS} fields")
                meta[key] = self.expect("STRING")[1][1:-1]
            self.literal("}")
        self.skip()
        if self.pos != len(self.text):
            raise self.error("expected the end of the file")
        return Certificate(version, schema_name, schema_version, config, str(fields["sha256"]), params, witness,
                           claim, meta)


def _config(fields: dict) -> ModelConfig:
    """The model config from the header's fields, each dimension in 1..MAX_DIM (before any array is built)."""
    dims = ("d_vocab", "d_model", "d_head", "n_ctx")
    try:
        if not all(isinstance(fields[name], int) for name in dims) or not all(
                isinstance(fields[name], str) for name in ("task", "sha256")):
            raise MalformedCertificate("model fields have the wrong type (dimensions are integers, task and "
                                       "sha256 strings)")
        config = ModelConfig(*(fields[name] for name in dims), fields["task"])
    except KeyError as exc:
        raise MalformedCertificate(f"model is missing field {exc.args[0]}") from None
    for dim_name in dims:
        if not 1 <= getattr(config, dim_name) <= MAX_DIM:
            raise MalformedCertificate(f"model field {dim_name} out of range 1..{MAX_DIM}")
    return config


def parse_certificate(text: str, budget=None) -> Certificate:
    """Parse certificate text; raises MalformedCertificate with a one-line reason. With a budget
    (checker.budget.Budget), a model whose exact tables alone exceed it raises OverBudget before its weights are
    read."""
    if len(text) > MAX_FILE_BYTES:
        raise MalformedCertificate(f"file larger than the limit of {MAX_FILE_BYTES} bytes")
    try:
        return _Parser(text, budget).parse()
    except RecursionError:
        raise MalformedCertificate("cannot parse: nesting too deep") from None
    except ValueError as exc:  # e.g. an integer conversion beyond Python's limit
        raise MalformedCertificate(f"cannot parse: {exc}") from None


def read_certificate(path: str, budget=None) -> Certificate:
    """Read and parse a certificate file (size-limited, UTF-8); see parse_certificate for the budget."""
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
    return parse_certificate(text, budget)
