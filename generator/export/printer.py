"""Shared printing machinery: each backend maps IR nodes to its syntax; layout (indentation) is common."""

from __future__ import annotations

from generator.export import ir


class Printer:
    """Subclasses implement the leaf syntax; `expr` returns text that may span several lines."""

    indent_unit = "  "

    def ty(self, t: ir.Type) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def int_lit(self, n: int) -> str:
        return str(n) if n >= 0 else f"({n})"

    def expr(self, e: ir.Expr, ind: int = 1) -> str:
        method = getattr(self, "e_" + type(e).__name__)
        return method(e, ind)

    def nl(self, ind: int) -> str:
        return "\n" + self.indent_unit * ind

    def e_Var(self, e, ind):
        return e.name

    def e_Int(self, e, ind):
        return self.int_lit(e.value)

    def e_FnRef(self, e, ind):
        return e.name

    def e_Op(self, e, ind):
        args = [self.expr(a, ind + 1) for a in e.args]
        return self.op(e.op, args, e)

    def op(self, name: str, args: list[str], node) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


def is_simple(e: ir.Expr) -> bool:
    """Short expressions that stay on one line."""
    if isinstance(e, (ir.Var, ir.Int, ir.Bool, ir.FnRef)):
        return True
    if isinstance(e, ir.Op):
        return all(is_simple(a) for a in e.args) and e.op not in ("map", "foldl")
    if isinstance(e, ir.Call):
        return all(is_simple(a) for a in e.args)
    if isinstance(e, ir.Field):
        return is_simple(e.record)
    return False
