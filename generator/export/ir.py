"""The one description of an exported check: a tiny typed, first-order-plus-lambdas functional language.

A schema's checking algorithm and its data are written once as a `Program` of this language
(generator/export/algorithms.py, brute_force.py, cubic.py); `coq.py`, `lean.py` and `pyeval.py`
print it as Coq, Lean 4 and Python. The two proof-assistant files therefore cannot drift apart, and
the Python print lets the exporter run exactly the exported algorithm before it writes a file.

The language has integers (Coq `Z`, Lean `Int`, Python `int`), booleans, lists, pairs, one record type
for the data, non-recursive and structurally recursive functions (recursion only on the tail of a
list argument, so Coq and Lean both accept it as structural), `let`, `if`, lambdas, and a fixed set of
primitive operations whose meaning is pinned down below *for every argument*, so that the three
backends compute the same function:

    add sub mul neg             exact integer arithmetic
    fdiv a b                    floor(a / b) if b > 0, else 0
    shr a s                     floor(a / 2^s) if s >= 0, else a * 2^(-s)
    pow2 n                      2^n if n >= 0, else 0
    log2 a                      floor(log2 a) if a > 0, else 0
    max min                     of two integers
    lt le eq                    comparisons, giving booleans
    and or not                  booleans
    pair fst snd                pairs
    range n                     the list [0, 1, ..., n-1] (empty if n <= 0)
    length l                    the number of elements, as an integer
    map f l / foldl f a l       List.map / left fold (Coq fold_left f l a, Lean List.foldl f a l)
    append l1 l2                concatenation
    cons x l                    x :: l
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ------------------------------------------------------------------------------------------ types


@dataclass(frozen=True)
class Type:
    pass


@dataclass(frozen=True)
class TInt(Type):
    pass


@dataclass(frozen=True)
class TBool(Type):
    pass


@dataclass(frozen=True)
class TList(Type):
    elem: Type


@dataclass(frozen=True)
class TPair(Type):
    first: Type
    second: Type


@dataclass(frozen=True)
class TFun(Type):
    args: tuple
    ret: Type


@dataclass(frozen=True)
class TVar(Type):
    name: str


@dataclass(frozen=True)
class TRec(Type):
    name: str


INT = TInt()
BOOL = TBool()
LINT = TList(INT)
MAT = TList(LINT)
IPAIR = TPair(INT, INT)
DYADIC = TPair(INT, MAT)  # (exponent e, integer matrix M): the value M * 2^e

# ------------------------------------------------------------------------------------ expressions

RESERVED = {
    # Coq and Lean keywords and names the printed files use themselves
    "fun", "let", "in", "match", "with", "end", "as", "return", "if", "then", "else", "fix", "cofix",
    "forall", "exists", "Type", "Set", "Prop", "at", "by", "do", "from", "have", "show", "where", "for",
    "open", "def", "theorem", "structure", "instance", "class", "namespace", "section", "import", "mut",
    "unless", "try", "catch", "finally", "break", "continue", "deriving", "universe", "variable", "true",
    "false", "nil", "cons", "list", "bool", "Z", "Int", "Bool", "List", "pair", "fst", "snd", "map", "fold_left",
    "length", "app", "cert_check", "lambda", "None", "True", "False", "not", "and", "or", "is",
    "def", "del", "global", "pass", "raise", "yield", "assert", "async", "await", "elif", "except", "import",
    "nonlocal", "while", "mkData", "max", "min", "range", "len", "list", "dict", "int",
}

OPS = {
    "add": 2, "sub": 2, "mul": 2, "neg": 1, "fdiv": 2, "shr": 2, "pow2": 1, "log2": 1, "max": 2, "min": 2,
    "lt": 2, "le": 2, "eq": 2, "and": 2, "or": 2, "not": 1, "pair": 2, "fst": 1, "snd": 1,
    "range": 1, "length": 1, "map": 2, "foldl": 3, "append": 2, "cons": 2,
}


def _expr(x) -> "Expr":
    if isinstance(x, Expr):
        return x
    if isinstance(x, bool):
        return Bool(x)
    if isinstance(x, int):
        return Int(x)
    raise TypeError(f"not an IR expression: {x!r}")


class Expr:
    """Base class; arithmetic operators build `Op` nodes (comparisons are methods: .lt .le .eq ...)."""

    def __add__(self, o):
        return Op("add", (self, _expr(o)))

    def __radd__(self, o):
        return Op("add", (_expr(o), self))

    def __sub__(self, o):
        return Op("sub", (self, _expr(o)))

    def __rsub__(self, o):
        return Op("sub", (_expr(o), self))

    def __mul__(self, o):
        return Op("mul", (self, _expr(o)))

    def __rmul__(self, o):
        return Op("mul", (_expr(o), self))

    def __neg__(self):
        return Op("neg", (self,))

    def lt(self, o):
        return Op("lt", (self, _expr(o)))

    def le(self, o):
        return Op("le", (self, _expr(o)))

    def gt(self, o):
        return Op("lt", (_expr(o), self))

    def ge(self, o):
        return Op("le", (_expr(o), self))

    def eq(self, o):
        return Op("eq", (self, _expr(o)))

    def __call__(self, *args):
        raise TypeError("call top-level functions with Call(name, ...)")


@dataclass(frozen=True, eq=False)
class Var(Expr):
    name: str


@dataclass(frozen=True, eq=False)
class Int(Expr):
    value: int


@dataclass(frozen=True, eq=False)
class Bool(Expr):
    value: bool


@dataclass(frozen=True, eq=False)
class Op(Expr):
    op: str
    args: tuple

    def __post_init__(self):
        if self.op not in OPS:
            raise ValueError(f"unknown primitive {self.op}")
        if len(self.args) != OPS[self.op]:
            raise ValueError(f"{self.op} takes {OPS[self.op]} arguments")


@dataclass(frozen=True, eq=False)
class If(Expr):
    cond: Expr
    then: Expr
    other: Expr


@dataclass(frozen=True, eq=False)
class Let(Expr):
    name: str
    value: Expr
    body: Expr


@dataclass(frozen=True, eq=False)
class Lam(Expr):
    params: tuple  # ((name, Type), ...)
    body: Expr


@dataclass(frozen=True, eq=False)
class Call(Expr):
    fn: str
    args: tuple


@dataclass(frozen=True, eq=False)
class FnRef(Expr):
    """A top-level function used as a value (e.g. passed to map)."""

    name: str


@dataclass(frozen=True, eq=False)
class Case(Expr):
    """match scrut with [] => nil | head :: tail => cons."""

    scrut: Expr
    nil: Expr
    head: str
    tail: str
    cons: Expr


@dataclass(frozen=True, eq=False)
class ListLit(Expr):
    items: tuple
    elem: Type


@dataclass(frozen=True, eq=False)
class Field(Expr):
    record: Expr
    rec: str
    name: str


@dataclass(frozen=True, eq=False)
class RecordLit(Expr):
    rec: str
    values: tuple  # ((field, Expr), ...) in declaration order


# -------------------------------------------------------------------------------- declarations


@dataclass
class Def:
    """A top-level function or constant (no params). `recursive`: structural on the list param `struct`."""

    name: str
    params: tuple  # ((name, Type), ...)
    ret: Type
    body: Expr
    recursive: bool = False
    struct: str | None = None
    tvars: tuple = ()
    doc: str = ""


@dataclass
class Record:
    name: str
    fields: tuple  # ((name, Type), ...)
    doc: str = ""


@dataclass
class Comment:
    text: str


@dataclass
class Program:
    """Declarations in dependency order. `check` is a Def (Data -> bool), `data` a Def of type TRec."""

    title: str
    header: list[str]  # lines of the leading comment
    decls: list = field(default_factory=list)
    check: str = "check"
    data: str = "data"

    def defs(self) -> dict[str, Def]:
        return {d.name: d for d in self.decls if isinstance(d, Def)}


# ------------------------------------------------------------------------------- small builders


def v(name: str) -> Var:
    return Var(name)


def call(fn: str, *args) -> Call:
    return Call(fn, tuple(_expr(a) for a in args))


def op(name: str, *args) -> Op:
    return Op(name, tuple(_expr(a) for a in args))


def lam(params, body) -> Lam:
    return Lam(tuple(params), _expr(body))


def let(name: str, value, body) -> Let:
    return Let(name, _expr(value), _expr(body))


def lets(bindings, body) -> Expr:
    """Nested lets: bindings is a list of (name, value)."""
    out = _expr(body)
    for name, value in reversed(bindings):
        out = Let(name, _expr(value), out)
    return out


def if_(c, a, b) -> If:
    return If(_expr(c), _expr(a), _expr(b))


def case(scrut, nil, head: str, tail: str, cons) -> Case:
    return Case(_expr(scrut), _expr(nil), head, tail, _expr(cons))


def int_list(values) -> ListLit:
    return ListLit(tuple(Int(int(x)) for x in values), INT)


def int_matrix(rows) -> ListLit:
    return ListLit(tuple(int_list(r) for r in rows), LINT)


def pair(a, b) -> Op:
    return op("pair", a, b)


def validate(program: Program) -> None:
    """Catch name problems before a proof assistant does: reserved words, duplicates, unknown calls."""
    seen: set[str] = set()
    records = {d.name: d for d in program.decls if isinstance(d, Record)}
    for d in program.decls:
        if isinstance(d, Comment):
            continue
        if d.name in seen:
            raise ValueError(f"duplicate declaration {d.name}")
        if d.name in RESERVED:
            raise ValueError(f"reserved name {d.name}")
        seen.add(d.name)
        if isinstance(d, Record):
            for fname, _ in d.fields:
                if fname in RESERVED or fname in seen:
                    raise ValueError(f"bad field name {fname}")
                seen.add(fname)
            continue
        scope = {p for p, _ in d.params}
        _check_expr(d.body, scope, seen | ({d.name} if d.recursive else set()), records, d.name)


def _check_expr(e: Expr, scope: set, known: set, records: dict, where: str) -> None:
    def go(e, scope):
        if isinstance(e, Var):
            if e.name not in scope:
                raise ValueError(f"{where}: unbound variable {e.name}")
        elif isinstance(e, (Int, Bool)):
            pass
        elif isinstance(e, Op):
            for a in e.args:
                go(a, scope)
        elif isinstance(e, If):
            go(e.cond, scope), go(e.then, scope), go(e.other, scope)
        elif isinstance(e, Let):
            _name_ok(e.name, where)
            go(e.value, scope)
            go(e.body, scope | {e.name})
        elif isinstance(e, Lam):
            for p, _ in e.params:
                _name_ok(p, where)
            go(e.body, scope | {p for p, _ in e.params})
        elif isinstance(e, Call):
            if e.fn not in known:
                raise ValueError(f"{where}: call to unknown function {e.fn}")
            for a in e.args:
                go(a, scope)
        elif isinstance(e, FnRef):
            if e.name not in known:
                raise ValueError(f"{where}: reference to unknown function {e.name}")
        elif isinstance(e, Case):
            _name_ok(e.head, where), _name_ok(e.tail, where)
            go(e.scrut, scope)
            go(e.nil, scope)
            go(e.cons, scope | {e.head, e.tail})
        elif isinstance(e, ListLit):
            for x in e.items:
                go(x, scope)
        elif isinstance(e, Field):
            if e.rec not in records or e.name not in dict(records[e.rec].fields):
                raise ValueError(f"{where}: unknown field {e.rec}.{e.name}")
            go(e.record, scope)
        elif isinstance(e, RecordLit):
            names = [f for f, _ in records[e.rec].fields]
            if [f for f, _ in e.values] != names:
                raise ValueError(f"{where}: record literal fields differ from {e.rec}'s declaration")
            for _, x in e.values:
                go(x, scope)
        else:
            raise TypeError(f"{where}: unknown node {type(e).__name__}")

    go(e, scope)


def _name_ok(name: str, where: str) -> None:
    if name in RESERVED or not name.replace("_", "a").isalnum() or not name[0].isalpha():
        raise ValueError(f"{where}: bad local name {name!r}")
