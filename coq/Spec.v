(** * Spec: what a certificate's claim means, over Coq's real numbers.

    This file (with Coq's kernel) is all an auditor must trust: it defines the model of
    DESIGN.md ("The model and its exact meaning") from the integers of a certificate, the
    correctness of one input, the accuracy over all [d_vocab ^ n_ctx] inputs, and the claim.
    It uses only Coq's standard library: [R], [exp], [sqrt], [IZR], [powerRZ]. *)
From Coq Require Import ZArith Reals List Lia.
Import ListNotations.
Local Open Scope R_scope.

(** A tensor is one exponent [e] and a matrix of integer mantissas [M]: its entry [(i, j)] is
    the exact real [M_ij * 2^e] (every float32 is such a number). A vector is a one-row matrix.
    An entry missing from the lists reads as 0, so every record defines a model. *)
Definition Tensor : Type := (Z * list (list Z))%type.

Definition entry (w : Tensor) (i j : nat) : R :=
  IZR (nth j (nth i (snd w) []) 0%Z) * powerRZ 2 (fst w).

(** A certificate's data: the configuration, the twelve weights with their TransformerLens
    names ([W_Q], [W_K], [W_V] of shape [d_model x d_head], [W_O] of shape [d_head x d_model],
    the one head's slice), and the claimed accuracy [claim_num / claim_den]. *)
Record Data := {
  d_vocab : nat; d_model : nat; d_head : nat; n_ctx : nat;
  W_E : Tensor; W_pos : Tensor; W_Q : Tensor; W_K : Tensor; W_V : Tensor; W_O : Tensor;
  W_U : Tensor; b_Q : Tensor; b_K : Tensor; b_V : Tensor; b_O : Tensor; b_U : Tensor;
  claim_num : Z; claim_den : Z }.

Definition claim (d : Data) : R := IZR (claim_num d) / IZR (claim_den d).

(** The real-valued model: sizes and weights as functions of their indices. *)
Record Model := {
  vocab : nat; dmodel : nat; dhead : nat; ctx : nat;
  WE : nat -> nat -> R; Wpos : nat -> nat -> R; WQ : nat -> nat -> R; WK : nat -> nat -> R;
  WV : nat -> nat -> R; WO : nat -> nat -> R; WU : nat -> nat -> R;
  bQ : nat -> R; bK : nat -> R; bV : nat -> R; bO : nat -> R; bU : nat -> R }.

Definition model_of (d : Data) : Model := {|
  vocab := d_vocab d; dmodel := d_model d; dhead := d_head d; ctx := n_ctx d;
  WE := entry (W_E d); Wpos := entry (W_pos d); WQ := entry (W_Q d); WK := entry (W_K d);
  WV := entry (W_V d); WO := entry (W_O d); WU := entry (W_U d);
  bQ := entry (b_Q d) 0; bK := entry (b_K d) 0; bV := entry (b_V d) 0;
  bO := entry (b_O d) 0; bU := entry (b_U d) 0 |}.

(** [sum n f] is [f 0 + ... + f (n-1)]. *)
Fixpoint sum (n : nat) (f : nat -> R) : R :=
  match n with O => 0 | S n' => sum n' f + f n' end.

Section Meaning.
Variable M : Model.

(** An input [t] is a list of [n_ctx] tokens [t_0 .. t_(K-1)]; the query is position [K-1]. *)
Definition tok (t : list nat) (i : nat) : nat := nth i t O.
Definition qpos : nat := (ctx M - 1)%nat.

Definition x (t : list nat) (i k : nat) : R := WE M (tok t i) k + Wpos M i k.
Definition query (t : list nat) (h : nat) : R :=
  sum (dmodel M) (fun k => x t qpos k * WQ M k h) + bQ M h.
Definition key (t : list nat) (i h : nat) : R :=
  sum (dmodel M) (fun k => x t i k * WK M k h) + bK M h.
Definition value (t : list nat) (i h : nat) : R :=
  sum (dmodel M) (fun k => x t i k * WV M k h) + bV M h.
Definition score (t : list nat) (i : nat) : R :=
  sum (dhead M) (fun h => query t h * key t i h) / sqrt (INR (dhead M)).
(** softmax over all [K] positions *)
Definition attn (t : list nat) (i : nat) : R :=
  exp (score t i) / sum (ctx M) (fun l => exp (score t l)).
Definition resid (t : list nat) (k : nat) : R :=
  x t qpos k
  + sum (dhead M) (fun h => sum (ctx M) (fun i => attn t i * value t i h) * WO M h k)
  + bO M k.
Definition logit (t : list nat) (j : nat) : R :=
  sum (dmodel M) (fun k => resid t k * WU M k j) + bU M j.

(** Correct: the largest token's logit beats every other output strictly (a tie is wrong). *)
Definition correct (t : list nat) : Prop :=
  forall j, (j < vocab M)%nat -> j <> list_max t -> logit t j < logit t (list_max t).

(** The same, as a boolean (decided with the real numbers' [Rlt_dec]); see [correctb_iff]. *)
Definition correctb (t : list nat) : bool :=
  forallb (fun j => orb (Nat.eqb j (list_max t))
                    (if Rlt_dec (logit t j) (logit t (list_max t)) then true else false))
          (seq 0 (vocab M)).

(** All [v ^ n] sequences of length [n] over tokens [0 .. v-1], each once. *)
Fixpoint seqs (v n : nat) : list (list nat) :=
  match n with
  | O => [[]]
  | S n' => flat_map (fun s => map (fun a => a :: s) (seq 0 v)) (seqs v n')
  end.

Definition accuracy : R :=
  INR (length (filter correctb (seqs (vocab M) (ctx M)))) / INR (vocab M ^ ctx M).

Lemma correctb_iff (t : list nat) : correctb t = true <-> correct t.
Proof.
  unfold correctb, correct; rewrite forallb_forall; split.
  - intros H j Hj Hne; specialize (H j (proj2 (in_seq _ _ _) (conj (Nat.le_0_l j) Hj))).
    apply Bool.orb_prop in H; destruct H as [H | H].
    + apply PeanoNat.Nat.eqb_eq in H; contradiction.
    + destruct (Rlt_dec _ _); [assumption | discriminate].
  - intros H j Hin; apply in_seq in Hin.
    destruct (PeanoNat.Nat.eq_dec j (list_max t)) as [E | E].
    + rewrite E, PeanoNat.Nat.eqb_refl; reflexivity.
    + destruct (Rlt_dec _ _) as [L | L]; [apply Bool.orb_true_r | exfalso].
      apply L, H; [apply Hin | exact E].
Qed.

Lemma seqs_length (v n : nat) : length (seqs v n) = (v ^ n)%nat.
Proof.
  induction n as [| n IH]; [reflexivity | simpl].
  rewrite flat_map_concat_map, <- IH; clear IH; induction (seqs v n) as [| s l IH]; simpl.
  - lia.
  - rewrite app_length, map_length, seq_length, IH; lia.
Qed.

End Meaning.
