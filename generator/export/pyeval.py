"""Print an IR program as Python and run it: the exporter's way to evaluate exactly the exported algorithm
(to choose its precision hints, and in tests) without a proof assistant. Not trusted by anything."""

from __future__ import annotations

import sys

from generator.export import ir
from generator.export.printer import Printer

PRELUDE = '''\
def _fdiv(a, b):
    return a // b if b > 0 else 0

def _shr(a, s):
    return a >> s if s >= 0 else a << -s

def _pow2(n):
    return 1 << n if n >= 0 else 0

def _log2(a):
    return a.bit_length() - 1 if a > 0 else 0

def _foldl(f, a, l):
    for x in l:
        a = f(a, x)
    return a

def _case(l, nil, cons):
    return nil() if not l else cons(l[0], l[1:])
'''

OPS = {
    "add": "({0} + {1})", "sub": "({0} - {1})", "mul": "({0} * {1})", "neg": "(-{0})",
    "fdiv": "_fdiv({0}, {1})", "shr": "_shr({0}, {1})", "pow2": "_pow2({0})", "log2": "_log2({0})",
    "max": "max({0}, {1})", "min": "min({0}, {1})",
    "lt": "({0} < {1})", "le": "({0} <= {1})", "eq": "({0} == {1})",
    "and": "({0} and {1})", "or": "({0} or {1})", "not": "(not {0})",
    "pair": "({0}, {1})", "fst": "{0}[0]", "snd": "{0}[1]",
    "range": "list(range({0}))", "length": "len({0})",
    "map": "list(map({0}, {1}))", "foldl": "_foldl({0}, {1}, {2})", "append": "({0} + {1})", "cons": "([{0}] + {1})",
}


class PyPrinter(Printer):
    indent_unit = "    "
    OPS = OPS

    def ty(self, t):
        return ""

    def int_lit(self, n: int) -> str:
        return str(n) if n >= 0 else f"({n})"

    def e_Bool(self, e, ind):
        return "True" if e.value else "False"

    def e_If(self, e, ind):
        return f"({self.expr(e.then, ind + 1)} if {self.expr(e.cond, ind + 1)} else {self.expr(e.other, ind + 1)})"

    def e_Let(self, e, ind):
        return f"(lambda {e.name}: {self.expr(e.body, ind + 1)})({self.expr(e.value, ind + 1)})"

    def e_Lam(self, e, ind):
        return f"(lambda {', '.join(p for p, _ in e.params)}: {self.expr(e.body, ind + 1)})"

    def e_Call(self, e, ind):
        if not e.args and self.constants.get(e.fn):
            return e.fn
        return f"{e.fn}({', '.join(self.expr(a, ind + 1) for a in e.args)})"

    def e_Case(self, e, ind):
        return (f"_case({self.expr(e.scrut, ind + 1)}, lambda: {self.expr(e.nil, ind + 1)}, "
                f"lambda {e.head}, {e.tail}: {self.expr(e.cons, ind + 1)})")

    def e_ListLit(self, e, ind):
        return "[" + ", ".join(self.expr(x, ind + 1) for x in e.items) + "]"

    def e_Field(self, e, ind):
        return f"{self.expr(e.record, ind)}[{e.name!r}]"

    def e_RecordLit(self, e, ind):
        return "{" + ", ".join(f"{f!r}: {self.expr(x, ind + 1)}" for f, x in e.values) + "}"

    def nl(self, ind):
        return " "


def print_python(program: ir.Program) -> str:
    ir.validate(program)
    p = PyPrinter()
    p.constants = {d.name: not d.params for d in program.decls if isinstance(d, ir.Def)}
    out = [PRELUDE]
    for d in program.decls:
        if isinstance(d, ir.Def):
            if d.params:
                out.append(f"def {d.name}({', '.join(x for x, _ in d.params)}):\n    return {p.expr(d.body, 1)}\n")
            else:
                out.append(f"{d.name} = {p.expr(d.body, 1)}\n")
    return "\n".join(out)


def run_python(program: ir.Program, entry: str | None = None, data=None):
    """Evaluate `entry(data)` (default: the program's check on its data) with the Python print."""
    src = print_python(program)
    namespace: dict = {}
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20000))
    try:
        exec(compile(src, f"<export {program.title}>", "exec"), namespace)
        fn = namespace[entry or program.check]
        return fn(namespace[program.data] if data is None else data)
    finally:
        sys.setrecursionlimit(old)


def namespace_of(program: ir.Program) -> dict:
    """The executed Python module's namespace (for tests and diagnostics)."""
    namespace: dict = {}
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    exec(compile(print_python(program), f"<export {program.title}>", "exec"), namespace)
    return namespace
