"""A Coq proof over the reals (Reals + the Interval library) of a brute-force certificate's bound, for tiny models.

This is the formal export's stretch goal (docs/formal-export.md, "A machine-checked bound over the reals"):
the file defines DESIGN.md's model over `R` from the exact float32 weights (each a rational literal), lists
the inputs that the brute-force check proves correct, and proves, input by input, that each is correct
for the real-valued model (`interval`, whose arithmetic is itself proved correct in Coq), and that these
are `claim * d_vocab^K` distinct inputs. It does not go through the integer check of the other export: it
uses that check only to know which inputs to prove. Every input costs a few seconds of `coqc`, so this
is for models with a few hundred inputs.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np

from generator.export.library import WEIGHT_FIELDS

NAMES = {"w_E": "W_E", "w_pos": "W_pos", "w_Q": "W_Q", "w_K": "W_K", "w_V": "W_V", "w_O": "W_O",
         "b_Q": "b_Q", "b_K": "b_K", "b_V": "b_V", "b_O": "b_O", "w_U": "W_U", "b_U": "b_U"}

MODEL = r"""
(* DESIGN.md's model over the reals: vectors are lists, matrices lists of rows. *)
Fixpoint vadd (a b : list R) : list R :=
  match a, b with x :: a', y :: b' => (x + y) :: vadd a' b' | _, _ => [] end.
Definition vscale (c : R) (a : list R) : list R := map (fun x => c * x) a.
Fixpoint dot (a b : list R) : R :=
  match a, b with x :: a', y :: b' => x * y + dot a' b' | _, _ => 0 end.
Fixpoint vecmat_acc (x : list R) (M : list (list R)) (acc : list R) : list R :=
  match x, M with xk :: x', row :: M' => vecmat_acc x' M' (vadd acc (vscale xk row)) | _, _ => acc end.
(* x M for a row vector x and a matrix M (sum over k of x_k M[k]) *)
Definition vecmat (x : list R) (M : list (list R)) : list R := vecmat_acc x M (map (fun _ => 0) (hd [] M)).
Definition row (M : list (list R)) (i : nat) : list R := nth i M [].

(* x_i = W_E[t_i] + W_pos[i];  the query is position K-1 *)
Definition resid (t : list nat) (i : nat) : list R := vadd (row W_E (nth i t O)) (row W_pos i).
Definition query (t : list nat) : list R := vadd (vecmat (resid t (n_ctx - 1)) W_Q) (row b_Q 0).
Definition key (t : list nat) (i : nat) : list R := vadd (vecmat (resid t i) W_K) (row b_K 0).
Definition value (t : list nat) (i : nat) : list R := vadd (vecmat (resid t i) W_V) (row b_V 0).
(* s_i = ((x_{K-1} W_Q + b_Q) . (x_i W_K + b_K)) / sqrt(d_head) *)
Definition score (t : list nat) (i : nat) : R := dot (query t) (key t i) / sqrt d_head.
Definition scores (t : list nat) : list R := map (fun i => score t i) (seq 0 n_ctx).
Definition softmax (s : list R) : list R :=
  let z := fold_right Rplus 0 (map exp s) in map (fun x => exp x / z) s.
Fixpoint wsum (a : list R) (vs : list (list R)) (acc : list R) : list R :=
  match a, vs with ai :: a', v :: vs' => wsum a' vs' (vadd acc (vscale ai v)) | _, _ => acc end.
(* r = x_{K-1} + (sum_i a_i v_i) W_O + b_O for value vectors v and attention weights a ... *)
Definition residual_with (t : list nat) (vs : list (list R)) (a : list R) : list R :=
  vadd (vadd (resid t (n_ctx - 1)) (vecmat (wsum a vs (map (fun _ => 0) (row b_V 0))) W_O)) (row b_O 0).
(* ... with v_i = x_i W_V + b_V and a = softmax(s) *)
Definition residual (t : list nat) : list R := residual_with t (map (value t) (seq 0 n_ctx)) (softmax (scores t)).
(* logit = r W_U + b_U *)
Definition logits (t : list nat) : list R := vadd (vecmat (residual t) W_U) (row b_U 0).
Definition logit (t : list nat) (j : nat) : R := nth j (logits t) 0.

(* Input t is correct: logit[max t] > logit[j] for every other j < d_vocab (a tie is wrong). *)
Definition correct (t : list nat) : Prop :=
  forall j, (j < d_vocab)%nat -> j <> list_max t -> logit t j < logit t (list_max t).

(* All d_vocab^n_ctx inputs. *)
Fixpoint all_seqs (v k : nat) : list (list nat) :=
  match k with
  | O => [[]]
  | S k' => flat_map (fun s => map (fun x => x :: s) (seq 0 v)) (all_seqs v k')
  end.

Lemma in_seqs_of_dec (t : list nat) :
  (if in_dec (list_eq_dec Nat.eq_dec) t (all_seqs d_vocab n_ctx) then true else false) = true ->
  In t (all_seqs d_vocab n_ctx).
Proof. destruct in_dec; [auto | discriminate]. Qed.

Fixpoint nodupb (l : list (list nat)) : bool :=
  match l with
  | [] => true
  | x :: l' => negb (if in_dec (list_eq_dec Nat.eq_dec) x l' then true else false) && nodupb l'
  end.

Lemma nodup_of_dec (l : list (list nat)) : nodupb l = true -> NoDup l.
Proof.
  induction l as [|x l IH]; simpl; intros H.
  - constructor.
  - destruct (in_dec (list_eq_dec Nat.eq_dec) x l) as [Hin|Hin]; simpl in H; [discriminate|].
    constructor; [exact Hin | apply IH; exact H].
Qed.

(* Tactics: bound a closed real term with Interval after unfolding the model (all of it, or all but
   `score` / `residual`, which then act as variables bounded by earlier hypotheses). *)
Ltac bound_all x H :=
  let e := eval cbv [UNFOLD_ALL] in x in
  interval_intro e with (i_prec PREC) as H; change e with x in H.
(* bound_as e x H: e is x with some subterms already named (local definitions bounded by hypotheses) *)
Ltac bound_as e x H :=
  let e' := eval cbv [UNFOLD_ALL] in e in
  interval_intro e' with (i_prec PREC) as H; change e' with x in H.
Ltac margin :=
  cbv [UNFOLD_LOGIT]; apply Rminus_gt_0_lt; interval with (i_prec PREC).
"""

WEIGHTS = "W_E W_pos W_Q W_K W_V W_O b_Q b_K b_V b_O W_U b_U"
LISTS = "nth seq map hd vadd vscale dot vecmat_acc wsum fold_right list_max fold_left Nat.max Nat.sub n_ctx d_head"
MODEL_DEFS = "logit logits residual residual_with softmax scores value key query resid row vecmat"


def _rational(x: float) -> str:
    f = Fraction(float(x))
    num = f"{f.numerator}" if f.numerator >= 0 else f"({f.numerator})"
    return num if f.denominator == 1 else f"({num} / {f.denominator})"


def _matrix(arr: np.ndarray) -> str:
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None]
    return "[" + ";\n  ".join("[" + "; ".join(_rational(x) for x in row) + "]" for row in arr) + "]"


def proven_inputs(cert) -> list[tuple[int, ...]]:
    """The inputs that the exported brute-force check proves correct (run in Python)."""
    from generator.export import build_program
    from generator.export.pyeval import namespace_of

    prog, info = build_program(cert)
    ns = namespace_of(prog)
    data = ns["data"]
    cb = ns["inv_sqrt_bounds"](data["hint_sqrt_bits"], data["hint_sqrt_root"], data["hint_inv_bits"])
    st, vt = ns["score_tables"](data), ns["value_tables"](data)
    cfg = cert.config
    out = []
    for t in itertools.product(range(cfg.d_vocab), repeat=cfg.n_ctx):
        if ns["bf_correct"](st, vt, cb, data["hint_inv_bits"], data["hint_prec"], data["hint_terms"], cfg.d_vocab,
                            cfg.n_ctx, list(t)):
            out.append(t)
    return out


def export_real_coq(cert, prec: int = 120) -> str:
    """The Coq file (text). Raises ValueError when the certificate is not a brute-force one, or its claim is
    more than the inputs proven."""
    if cert.schema != "brute-force":
        raise ValueError("the real-valued Coq proof is made for brute-force certificates")
    cfg = cert.config
    V, K = cfg.d_vocab, cfg.n_ctx
    inputs = proven_inputs(cert)
    need = cert.claim * V ** K
    if need.denominator != 1 or len(inputs) < need:
        raise ValueError(f"the claim needs {need} inputs, {len(inputs)} are proven")
    inputs = inputs[: int(need)]
    out = [
        "(* compact-proofs: a machine-checked accuracy bound over the reals for a tiny model (brute force).",
        f"   model: d_vocab {V}, d_model {cfg.d_model}, d_head {cfg.d_head}, n_ctx {K}, sha256 {cert.sha256}",
        f"   Theorem accuracy_lower_bound: {len(inputs)} distinct inputs of {{0..{V - 1}}}^{K} are correct for",
        "   DESIGN.md's real-valued model (exp and sqrt the real functions), so accuracy >= "
        f"{cert.claim.numerator}/{cert.claim.denominator}.",
        "   Generated by generator/export/real.py; see docs/formal-export.md. *)",
        "From Coq Require Import Reals List Lia.",
        "From Interval Require Import Tactic.",
        "Import ListNotations.",
        "Open Scope R_scope.",
        "",
        f"Definition d_vocab : nat := {V}.",
        f"Definition n_ctx : nat := {K}.",
        f"Definition d_head : R := {cfg.d_head}.",
        "(* The weights: each float32 value as an exact rational. *)",
    ]
    for field, name in NAMES.items():
        tensor = next(t for t, f in WEIGHT_FIELDS.items() if f == field)
        arr = np.asarray(cert.params[tensor], dtype=np.float32)
        if arr.ndim == 3:
            arr = arr[0]
        out.append(f"Definition {name} : list (list R) := {_matrix(arr)}.")
    all_defs = f"{MODEL_DEFS} score {WEIGHTS} {LISTS}"
    model = (MODEL.replace("UNFOLD_ALL", all_defs)
             .replace("UNFOLD_LOGIT", f"logit logits vecmat row {WEIGHTS} {LISTS}")
             .replace("PREC", str(prec)))
    out.append(model)
    d_model = cfg.d_model
    for n, t in enumerate(inputs):
        tl = "[" + "; ".join(f"{x}%nat" for x in t) + "]"
        m = max(t)
        H = cfg.d_head
        lines = [f"Lemma correct_{n} : correct {tl}.", "Proof.", "  intros j Hj Hne. unfold logit, logits."]
        # 1. query, keys, values, each component bounded from the weights
        for c in range(H):
            lines.append(f"  bound_all (nth {c} (query {tl}) 0) Hq{c}. set (q{c} := nth {c} (query {tl}) 0) in *.")
        for i in range(K):
            for c in range(H):
                lines.append(f"  bound_all (nth {c} (key {tl} {i}) 0) Hk{i}_{c}. "
                             f"set (k{i}_{c} := nth {c} (key {tl} {i}) 0) in *.")
                lines.append(f"  bound_all (nth {c} (value {tl} {i}) 0) Hv{i}_{c}. "
                             f"set (v{i}_{c} := nth {c} (value {tl} {i}) 0) in *.")
        qv = "[" + "; ".join(f"q{c}" for c in range(H)) + "]"
        # 2. scores from the query and keys; softmax weights from the scores
        for i in range(K):
            kv = "[" + "; ".join(f"k{i}_{c}" for c in range(H)) + "]"
            lines.append(f"  bound_as (dot {qv} {kv} / sqrt d_head) (score {tl} {i}) Hs{i}. "
                         f"set (s{i} := score {tl} {i}) in *.")
        sv = "[" + "; ".join(f"s{i}" for i in range(K)) + "]"
        for i in range(K):
            lines.append(f"  bound_as (nth {i} (softmax {sv}) 0) (nth {i} (softmax (scores {tl})) 0) Ha{i}. "
                         f"set (a{i} := nth {i} (softmax (scores {tl})) 0) in *.")
        # 3. the residual stream from the values and weights
        vs = "[" + "; ".join("[" + "; ".join(f"v{i}_{c}" for c in range(H)) + "]" for i in range(K)) + "]"
        av = "[" + "; ".join(f"a{i}" for i in range(K)) + "]"
        for k in range(d_model):
            lines.append(f"  bound_as (nth {k} (residual_with {tl} {vs} {av}) 0) (nth {k} (residual {tl}) 0) Hr{k}. "
                         f"set (r{k} := nth {k} (residual {tl}) 0) in *.")
        rvec = "[" + "; ".join(f"r{k}" for k in range(d_model)) + "]"
        lines += [f"  assert (Er : residual {tl} = {rvec}) by reflexivity.",
                  "  rewrite Er. clear Er. clearbody " + " ".join(f"r{k}" for k in range(d_model)) + ".",
                  f"  destruct j as {_nested(V)};"]
        cases = []
        for j in range(V):
            cases.append("exfalso; apply Hne; reflexivity" if j == m else "margin")
        cases.append("exfalso; cbv [d_vocab] in Hj; lia")
        lines.append("    [ " + "\n    | ".join(cases) + " ].")
        lines.append("Qed.")
        out.append("\n".join(lines))
        out.append("")
    seqs = ";\n  ".join("[" + "; ".join(f"{x}%nat" for x in t) + "]" for t in inputs)
    out.append(f"Definition proven : list (list nat) := [\n  {seqs}].")
    out.append("")
    out.append(f"Theorem accuracy_lower_bound :\n  NoDup proven /\\ length proven = {len(inputs)}%nat /\\\n"
               f"  Forall (fun t => In t (all_seqs d_vocab n_ctx) /\\ correct t) proven.")
    out.append("Proof.")
    out.append("  split; [apply nodup_of_dec; vm_compute; reflexivity | split; [reflexivity | ]].")
    for n in range(len(inputs)):
        out.append(f"  apply Forall_cons; [split; [apply in_seqs_of_dec; vm_compute; reflexivity | exact correct_{n}] | ].")
    out.append("  apply Forall_nil.")
    out.append("Qed.")
    out.append("")
    out.append("(* accuracy = #{t : correct t} / d_vocab^n_ctx >= length proven / d_vocab^n_ctx = "
               f"{len(inputs)}/{V ** K} *)")
    return "\n".join(out) + "\n"


def _nested(V: int) -> str:
    s = "j"
    for _ in range(V):
        s = f"[|{s}]"
    return s
