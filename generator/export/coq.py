"""Print an IR program as a Coq 8.16 file (standard library only: ZArith, List)."""

from __future__ import annotations

from generator.export import ir
from generator.export.printer import ProofPrinter

PRELUDE = """\
From Coq Require Import ZArith List.
Import ListNotations.
Open Scope Z_scope.

(* The primitives of the export language (generator/export/ir.py), defined for every argument. *)
Definition zfdiv (a b : Z) : Z := if b <=? 0 then 0 else Z.div a b.   (* floor(a/b), b > 0 *)
Definition zshr (a s : Z) : Z := Z.shiftr a s.                        (* floor(a/2^s); a*2^-s if s < 0 *)
Definition zpow2 (n : Z) : Z := Z.pow 2 n.                            (* 2^n; 0 if n < 0 *)
Definition zlog2 (a : Z) : Z := Z.log2 a.                             (* floor(log2 a); 0 if a <= 0 *)
Definition zrange (n : Z) : list Z := map Z.of_nat (seq 0 (Z.to_nat n)).  (* [0; ...; n-1] *)
"""

OPS = {
    "add": "({0} + {1})", "sub": "({0} - {1})", "mul": "({0} * {1})", "neg": "(- {0})",
    "fdiv": "(zfdiv {0} {1})", "shr": "(zshr {0} {1})", "pow2": "(zpow2 {0})", "log2": "(zlog2 {0})",
    "max": "(Z.max {0} {1})", "min": "(Z.min {0} {1})",
    "lt": "({0} <? {1})", "le": "({0} <=? {1})", "eq": "({0} =? {1})",
    "and": "(andb {0} {1})", "or": "(orb {0} {1})", "not": "(negb {0})",
    "pair": "({0}, {1})", "fst": "(fst {0})", "snd": "(snd {0})",
    "range": "(zrange {0})", "length": "(Z.of_nat (length {0}))",
    "map": "(map {0} {1})", "foldl": "(fold_left {0} {2} {1})", "append": "({0} ++ {1})", "cons": "({0} :: {1})",
}


class CoqPrinter(ProofPrinter):
    TYPES = {"int": "Z", "bool": "bool", "list": "list", "prod": "prod", "arrow": "->"}
    OPS = OPS

    def e_Let(self, e, ind):
        return f"(let {e.name} := {self.expr(e.value, ind + 1)} in{self.nl(ind)}{self.expr(e.body, ind)})"

    def e_Case(self, e, ind):
        return (f"(match {self.expr(e.scrut, ind + 1)} with{self.nl(ind)}| [] => {self.expr(e.nil, ind + 1)}"
                f"{self.nl(ind)}| {e.head} :: {e.tail} => {self.expr(e.cons, ind + 1)}{self.nl(ind)}end)")

    def e_ListLit(self, e, ind):
        if not e.items:
            return f"(@nil {self.ty(e.elem)})"
        if isinstance(e.elem, ir.TInt):
            return "[" + "; ".join(self.expr(x, ind) for x in e.items) + "]"
        return "[" + (";" + self.nl(ind)).join(self.expr(x, ind + 1) for x in e.items) + "]"

    def e_Field(self, e, ind):
        return f"({e.name} {self.expr(e.record, ind)})"

    def e_RecordLit(self, e, ind):
        body = (";" + self.nl(ind)).join(f"{f} := {self.expr(x, ind + 1)}" for f, x in e.values)
        return "{|" + self.nl(ind) + body + " |}"


def print_coq(program: ir.Program) -> str:
    ir.validate(program)
    p = CoqPrinter()
    out = ["(* " + line.replace("*)", "* )") + " *)" if line else "" for line in program.header]
    out += ["", PRELUDE]
    for d in program.decls:
        if isinstance(d, ir.Comment):
            out.append(f"(* {d.text} *)")
        elif isinstance(d, ir.Record):
            if d.doc:
                out.append(f"(* {d.doc} *)")
            fields = ";\n".join(f"  {f} : {p.ty(t)}" for f, t in d.fields)
            out.append(f"Record {d.name} : Type := mk{d.name} {{\n{fields}\n}}.\n")
        else:
            if d.doc:
                out.append(f"(* {d.doc} *)")
            tv = "".join(f" {{{a} : Type}}" for a in d.tvars)
            params = "".join(f" ({x} : {p.ty(t)})" for x, t in d.params)
            kw = "Fixpoint" if d.recursive else "Definition"
            struct = f" {{struct {d.struct}}}" if d.recursive else ""
            out.append(f"{kw} {d.name}{tv}{params}{struct} : {p.ty(d.ret)} :=\n  {p.expr(d.body, 1)}.\n")
    out.append(f"(* The certificate's check, evaluated by the kernel's virtual machine (the same as\n"
               f"   `vm_compute; reflexivity`, but the computation runs once, at Qed). *)\n"
               f"Theorem cert_check : {program.check} {program.data} = true.\n"
               f"Proof. vm_cast_no_check (@eq_refl bool true). Qed.\n")
    return "\n".join(out)
