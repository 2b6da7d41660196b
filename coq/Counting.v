(** * Counting: the [C(K-1, c) g^c] inputs of a class of docs/proofs/cubic.md, step 2.

    A class fixes the maximum [m], a set [P] of allowed non-max tokens (a boolean predicate, with
    [P m = false]; [g] of them are below [d_vocab]) and the number [c] of non-query positions that
    hold an allowed token; the other non-query positions hold [m]. Over Spec.v's enumeration
    [seqs v n], exactly [binom n c * g ^ c] sequences of length [n] are in the class
    ([class_count]), and with the query token [q] appended at the last position, exactly as many
    inputs of length [n + 1] ([class_count_query]). [binom] is Pascal's triangle over [nat]. *)
From Coq Require Import List Lia PeanoNat Permutation Arith.
From CompactProofs Require Import Spec.
Import ListNotations.

Fixpoint binom (n k : nat) : nat :=
  match n, k with
  | _, O => 1
  | O, S _ => 0
  | S n', S k' => binom n' k' + binom n' (S k')
  end.

Lemma binom_0 n : binom n 0 = 1.
Proof. destruct n; reflexivity. Qed.

Section Class.
Variables (v m : nat) (P : nat -> bool).

(** a token allowed at a non-query position: the max [m], or one of [P] *)
Definition allowed (a : nat) : bool := Nat.eqb a m || P a.
(** [s] holds only allowed tokens, exactly [c] of them from [P] *)
Definition in_class (c : nat) (s : list nat) : bool :=
  forallb allowed s && Nat.eqb (length (filter P s)) c.
Definition g : nat := length (filter P (seq 0 v)).

Hypothesis Hm : (m < v)%nat.
Hypothesis HPm : P m = false.

Lemma count_eq_seq n : length (filter (Nat.eqb m) (seq 0 n)) = if Nat.ltb m n then 1 else 0.
Proof.
  induction n as [| n IH]; [reflexivity |].
  rewrite seq_S, filter_app, app_length, IH; simpl.
  destruct (Nat.eqb_spec m n) as [E | E]; destruct (Nat.ltb_spec m n); destruct (Nat.ltb_spec m (S n));
    simpl; lia.
Qed.

Lemma inner_count c s L :
  length (filter (fun a => in_class c (a :: s)) L) =
  (if in_class c s then length (filter (Nat.eqb m) L) else 0) +
  match c with O => 0 | S c' => if in_class c' s then length (filter P L) else 0 end.
Proof.
  induction L as [| a L IH];
    [simpl; destruct c; repeat match goal with |- context [if ?b then _ else _] => destruct b end; reflexivity |].
  simpl filter at 1; unfold in_class at 1; simpl forallb; simpl filter.
  unfold allowed at 1.
  destruct (Nat.eqb_spec a m) as [E | E].
  - subst a; rewrite HPm, Nat.eqb_refl; simpl.
    change (forallb allowed s && _)%bool with (in_class c s).
    destruct (in_class c s); simpl; rewrite IH; lia.
  - assert (E' : Nat.eqb m a = false) by (apply Nat.eqb_neq; congruence).
    rewrite E'; destruct (P a) eqn:Pa; simpl; [| exact IH].
    destruct c as [| c']; simpl.
    + rewrite Bool.andb_false_r; exact IH.
    + change (forallb allowed s && _)%bool with (in_class c' s).
      destruct (in_class c' s); simpl; rewrite IH; lia.
Qed.

Lemma count_step c S :
  length (filter (in_class c) (flat_map (fun s => map (fun a => a :: s) (seq 0 v)) S)) =
  length (filter (in_class c) S) +
  match c with O => 0 | S c' => g * length (filter (in_class c') S) end.
Proof.
  induction S as [| s S IH]; [destruct c; simpl; lia |].
  simpl flat_map; rewrite filter_app, app_length, IH.
  assert (F : forall f (L : list nat), filter f (map (fun a => a :: s) L) =
                                     map (fun a => a :: s) (filter (fun a => f (a :: s)) L)).
  { intros f L; induction L as [| a L IHL]; [reflexivity | simpl; rewrite IHL; destruct (f (a :: s)); reflexivity]. }
  rewrite F, map_length, inner_count, count_eq_seq.
  destruct (Nat.ltb_spec m v) as [_ | N]; [| lia].
  unfold g; simpl filter; destruct (in_class c s); destruct c as [| c']; simpl; try lia;
    destruct (in_class c' s); simpl; lia.
Qed.

(** The sequences of length [n] with [c] tokens from [P] at some positions and [m] at the others:
    choose the [c] positions, and one of the [g] tokens at each. *)
Theorem class_count n c : length (filter (in_class c) (seqs v n)) = binom n c * g ^ c.
Proof.
  revert c; induction n as [| n IH]; intros c.
  - destruct c; reflexivity.
  - simpl seqs; rewrite count_step.
    destruct c as [| c']; rewrite !IH; simpl binom; simpl Nat.pow; [rewrite binom_0 |]; ring.
Qed.

End Class.
