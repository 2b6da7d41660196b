"""Print an IR program as a Lean 4 file that uses only Lean's core library (no Mathlib, no Std/Batteries)."""

from __future__ import annotations

from generator.export import ir
from generator.export.printer import ProofPrinter

# Only core names: Int, Nat, List, Prod, Bool, decide, Int.toNat, Int.ofNat, Nat division and powers,
# Nat.log2, List.range/map/foldl/length. Integer division is defined through Nat division so that its
# meaning does not depend on which rounding Lean's `/` on Int uses in a given release.
PRELUDE = """\
/-- The primitives of the export language (generator/export/ir.py), defined for every argument. -/
def zfdiv (a b : Int) : Int :=   -- floor(a / b) for b > 0, else 0
  if b ≤ 0 then 0
  else if 0 ≤ a then Int.ofNat (a.toNat / b.toNat)
  else -Int.ofNat (((-a).toNat + b.toNat - 1) / b.toNat)

def zpow2 (n : Int) : Int :=     -- 2^n for n ≥ 0, else 0
  if n < 0 then 0 else Int.ofNat (2 ^ n.toNat)

def zshr (a s : Int) : Int :=    -- floor(a / 2^s) for s ≥ 0, else a * 2^(-s)
  if 0 ≤ s then zfdiv a (zpow2 s) else a * zpow2 (-s)

def zlog2 (a : Int) : Int :=     -- floor(log2 a) for a > 0, else 0
  Int.ofNat (Nat.log2 a.toNat)

def zmax (a b : Int) : Int := if a ≤ b then b else a
def zmin (a b : Int) : Int := if a ≤ b then a else b

def zrange (n : Int) : List Int := (List.range n.toNat).map Int.ofNat
"""

OPS = {
    "add": "({0} + {1})", "sub": "({0} - {1})", "mul": "({0} * {1})", "neg": "(-{0})",
    "fdiv": "(zfdiv {0} {1})", "shr": "(zshr {0} {1})", "pow2": "(zpow2 {0})", "log2": "(zlog2 {0})",
    "max": "(zmax {0} {1})", "min": "(zmin {0} {1})",
    "lt": "(decide ({0} < {1}))", "le": "(decide ({0} ≤ {1}))", "eq": "(decide ({0} = {1}))",
    "and": "({0} && {1})", "or": "({0} || {1})", "not": "(!{0})",
    "pair": "({0}, {1})", "fst": "(Prod.fst {0})", "snd": "(Prod.snd {0})",
    "range": "(zrange {0})", "length": "(Int.ofNat (List.length {0}))",
    "map": "(List.map {0} {1})", "foldl": "(List.foldl {0} {1} {2})", "append": "({0} ++ {1})", "cons": "({0} :: {1})",
}


class LeanPrinter(ProofPrinter):
    TYPES = {"int": "Int", "bool": "Bool", "list": "List", "prod": "Prod", "arrow": "→"}
    OPS = OPS

    def e_Let(self, e, ind):
        return f"(let {e.name} := {self.expr(e.value, ind + 1)};{self.nl(ind)}{self.expr(e.body, ind)})"

    def e_Case(self, e, ind):
        return (f"(match {self.expr(e.scrut, ind + 1)} with{self.nl(ind)}| [] => {self.expr(e.nil, ind + 1)}"
                f"{self.nl(ind)}| {e.head} :: {e.tail} => {self.expr(e.cons, ind + 1)})")

    def e_ListLit(self, e, ind):
        if not e.items:
            return f"([] : List {self.ty(e.elem)})"
        if isinstance(e.elem, ir.TInt):
            return "[" + ", ".join(self.expr(x, ind) for x in e.items) + "]"
        return "[" + ("," + self.nl(ind)).join(self.expr(x, ind + 1) for x in e.items) + "]"

    def e_Field(self, e, ind):
        return f"({e.rec}.{e.name} {self.expr(e.record, ind)})"

    def e_RecordLit(self, e, ind):
        body = ("," + self.nl(ind)).join(f"{f} := {self.expr(x, ind + 1)}" for f, x in e.values)
        return "({" + self.nl(ind) + body + " } : " + e.rec + ")"


def print_lean(program: ir.Program) -> str:
    ir.validate(program)
    p = LeanPrinter()
    out = ["/-"] + ["  " + line.replace("-/", "- /") if line else "" for line in program.header] + ["-/", ""]
    out.append(PRELUDE)
    for d in program.decls:
        if isinstance(d, ir.Comment):
            out.append(f"/-! {d.text.replace('-/', '- /')} -/")
        elif isinstance(d, ir.Record):
            if d.doc:
                out.append(f"/-- {d.doc} -/")
            fields = "\n".join(f"  {f} : {p.ty(t)}" for f, t in d.fields)
            out.append(f"structure {d.name} where\n{fields}\n")
        else:
            if d.doc:
                out.append(f"/-- {d.doc.replace('-/', '- /')} -/")
            tv = "".join(f" {{{a} : Type}}" for a in d.tvars)
            params = "".join(f" ({x} : {p.ty(t)})" for x, t in d.params)
            out.append(f"def {d.name}{tv}{params} : {p.ty(d.ret)} :=\n  {p.expr(d.body, 1)}\n")
    out.append(f"/-- The certificate's check, evaluated by the compiled code (`native_decide`). -/\n"
               f"theorem cert_check : {program.check} {program.data} = true := by native_decide\n")
    return "\n".join(out)
