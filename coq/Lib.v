(** * Lib: exact dyadic arithmetic for the checks, and what it means over [R]; sums over [R]. *)
From Coq Require Import ZArith QArith Qreals Qround Reals List Lia Lra.
From CompactProofs Require Import Spec.
Import ListNotations.

Fixpoint pow2 (n : nat) : positive := match n with O => 1%positive | S n' => xO (pow2 n') end.

(** [dyq m e] is the rational [m * 2^e]. *)
Definition dyq (m e : Z) : Q :=
  match e with
  | Z0 => inject_Z m
  | Zpos p => inject_Z (m * Zpos (pow2 (Pos.to_nat p)))
  | Zneg p => Qmake m (pow2 (Pos.to_nat p))
  end.

(** Dyadic numbers [(m, e)], meaning [m * 2^e], with exact addition and multiplication
    (no gcd: fast under [vm_compute]). *)
Definition D : Type := (Z * Z)%type.
Definition dplus (a b : D) : D :=
  let (m1, e1) := a in let (m2, e2) := b in
  if Z.leb e1 e2 then (m1 + Z.shiftl m2 (e2 - e1), e1)%Z else (Z.shiftl m1 (e1 - e2) + m2, e2)%Z.
Definition dmult (a b : D) : D := (fst a * fst b, snd a + snd b)%Z.
Definition dminus (a b : D) : D := dplus a (- fst b, snd b)%Z.
Fixpoint dsum (n : nat) (f : nat -> D) : D :=
  match n with O => (0, 0)%Z | S n' => dplus (dsum n' f) (f n') end.
Definition D2Q (a : D) : Q := dyq (fst a) (snd a).
Definition dentry (w : Tensor) (i j : nat) : D := (nth j (nth i (snd w) []) 0%Z, fst w).

Local Open Scope R_scope.

Definition D2R (a : D) : R := IZR (fst a) * powerRZ 2 (snd a).

Lemma Q2R_inject_Z z : Q2R (inject_Z z) = IZR z.
Proof. unfold Q2R; simpl; lra. Qed.
Lemma Q2R_0 : Q2R 0 = 0.
Proof. unfold Q2R; simpl; lra. Qed.

Lemma sum_ext (n : nat) (f g : nat -> R) :
  (forall i, (i < n)%nat -> f i = g i) -> sum n f = sum n g.
Proof.
  induction n as [| n IH]; intros H; simpl; [reflexivity |].
  rewrite IH by (intros; apply H; lia); rewrite H by lia; reflexivity.
Qed.


Lemma sum_plus n f g : sum n (fun i => f i + g i) = sum n f + sum n g.
Proof. induction n; simpl; [lra | rewrite IHn; lra]. Qed.
Lemma sum_scal_l n c f : sum n (fun i => c * f i) = c * sum n f.
Proof. induction n; simpl; [lra | rewrite IHn; lra]. Qed.
Lemma sum_scal_r n c f : sum n (fun i => f i * c) = sum n f * c.
Proof. induction n; simpl; [lra | rewrite IHn; lra]. Qed.
Lemma sum_swap n m (f : nat -> nat -> R) :
  sum n (fun i => sum m (fun j => f i j)) = sum m (fun j => sum n (fun i => f i j)).
Proof.
  induction n; simpl.
  - induction m; simpl; [reflexivity | rewrite <- IHm; lra].
  - rewrite IHn, <- sum_plus; reflexivity.
Qed.
Lemma sum_le n f g : (forall i, (i < n)%nat -> f i <= g i) -> sum n f <= sum n g.
Proof.
  induction n as [| n IH]; intros H; simpl; [lra |].
  apply Rplus_le_compat; [apply IH; intros; apply H | apply H]; lia.
Qed.
Lemma sum_pos n f : (0 < n)%nat -> (forall i, (i < n)%nat -> 0 < f i) -> 0 < sum n f.
Proof.
  induction n as [| n IH]; intros Hn H; [lia |]; simpl.
  destruct n as [| n].
  - assert (0 < f 0%nat) by (apply H; lia); simpl; lra.
  - assert (0 < sum (S n) f) by (apply IH; [lia | intros; apply H; lia]).
    assert (0 < f (S n)) by (apply H; lia); lra.
Qed.

Lemma IZR_pow2 n : IZR (Zpos (pow2 n)) = 2 ^ n.
Proof.
  induction n as [| n IH]; [reflexivity |].
  simpl pow2; rewrite Pos2Z.inj_xO, mult_IZR, IH; reflexivity.
Qed.

Lemma Q2R_dyq m e : Q2R (dyq m e) = IZR m * powerRZ 2 e.
Proof.
  destruct e as [| p | p]; unfold dyq; simpl.
  - rewrite Q2R_inject_Z; lra.
  - rewrite Q2R_inject_Z, mult_IZR, IZR_pow2; reflexivity.
  - unfold Q2R; simpl; rewrite IZR_pow2; reflexivity.
Qed.

Lemma IZR_shiftl m k : (0 <= k)%Z -> IZR (Z.shiftl m k) = IZR m * powerRZ 2 k.
Proof.
  intros H; rewrite Z.shiftl_mul_pow2 by exact H; rewrite mult_IZR; f_equal.
  rewrite <- (Z2Nat.id k H), <- pow_IZR, pow_powerRZ; reflexivity.
Qed.

Lemma D2R_dplus a b : D2R (dplus a b) = D2R a + D2R b.
Proof.
  destruct a as [m1 e1], b as [m2 e2]; unfold dplus, D2R; simpl.
  assert (H2 : (2 <> 0)%R) by lra.
  destruct (Z.leb_spec e1 e2); simpl; rewrite plus_IZR, IZR_shiftl by lia; rewrite Rmult_plus_distr_r.
  - rewrite Rmult_assoc, <- powerRZ_add by exact H2; do 3 f_equal; lia.
  - rewrite Rmult_assoc, <- powerRZ_add by exact H2; do 3 f_equal; lia.
Qed.
Lemma D2R_dmult a b : D2R (dmult a b) = D2R a * D2R b.
Proof.
  destruct a as [m1 e1], b as [m2 e2]; unfold dmult, D2R; simpl.
  rewrite mult_IZR, powerRZ_add by lra; ring.
Qed.
Lemma D2R_dminus a b : D2R (dminus a b) = D2R a - D2R b.
Proof.
  unfold dminus; rewrite D2R_dplus; destruct b as [m e]; unfold D2R; simpl; rewrite opp_IZR; ring.
Qed.
Lemma D2R_dsum n f : D2R (dsum n f) = sum n (fun i => D2R (f i)).
Proof.
  induction n; simpl; [unfold D2R; simpl; ring | rewrite D2R_dplus, IHn; reflexivity].
Qed.
Lemma Q2R_D2Q a : Q2R (D2Q a) = D2R a.
Proof. unfold D2Q, D2R; apply Q2R_dyq. Qed.
Lemma D2R_dentry w i j : D2R (dentry w i j) = entry w i j.
Proof. reflexivity. Qed.

