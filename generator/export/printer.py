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

    OPS: dict[str, str] = {}  # IR primitive -> format string of the backend's syntax

    def op(self, name: str, args: list[str], node) -> str:
        return self.OPS[name].format(*args)


class ProofPrinter(Printer):
    """What the Coq and Lean printers share: typed lambdas, calls, if-then-else, and type syntax from TYPES."""

    TYPES: dict[str, str] = {}  # keys: int, bool, list, prod, arrow

    def ty(self, t: ir.Type) -> str:
        names = self.TYPES
        if isinstance(t, ir.TInt):
            return names["int"]
        if isinstance(t, ir.TBool):
            return names["bool"]
        if isinstance(t, ir.TList):
            return f"({names['list']} {self.ty(t.elem)})"
        if isinstance(t, ir.TPair):
            return f"({names['prod']} {self.ty(t.first)} {self.ty(t.second)})"
        if isinstance(t, ir.TFun):
            return "(" + f" {names['arrow']} ".join([self.ty(a) for a in t.args] + [self.ty(t.ret)]) + ")"
        if isinstance(t, (ir.TVar, ir.TRec)):
            return t.name
        raise TypeError(t)

    def e_Bool(self, e, ind):
        return "true" if e.value else "false"

    def e_If(self, e, ind):
        return (f"(if {self.expr(e.cond, ind + 1)}{self.nl(ind)}then {self.expr(e.then, ind + 1)}"
                f"{self.nl(ind)}else {self.expr(e.other, ind + 1)})")

    def e_Lam(self, e, ind):
        params = " ".join(f"({p} : {self.ty(t)})" for p, t in e.params)
        return f"(fun {params} =>{self.nl(ind + 1)}{self.expr(e.body, ind + 1)})"

    def e_Call(self, e, ind):
        if not e.args:
            return e.fn
        return "(" + " ".join([e.fn] + [self.expr(a, ind + 1) for a in e.args]) + ")"


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
