(** * ExpBounds: rational enclosures of [exp (-y)] (y >= 0) and of [sqrt d], proved. *)
From Coq Require Import ZArith QArith Qreals Qround Reals Lia Lra.
From CompactProofs Require Import Spec Lib.

(** Rounding to the grid [Z / s], down and up. *)
Definition round_down (s : positive) (a : Q) : Q := Qmake (Qfloor (a * inject_Z (Zpos s))) s.
Definition round_up (s : positive) (a : Q) : Q := Qmake (Qceiling (a * inject_Z (Zpos s))) s.

(** [r] squarings, each rounded down (resp. up). *)
Fixpoint sq_down (s : positive) (r : nat) (L : Q) : Q :=
  match r with O => L | S r' => sq_down s r' (round_down s (L * L)) end.
Fixpoint sq_up (s : positive) (r : nat) (U : Q) : Q :=
  match r with O => U | S r' => sq_up s r' (round_up s (U * U)) end.

(** With [u = y / 2^r]: [exp (-y) = exp (-u) ^ (2^r)] and [1 - u <= exp (-u) <= 1 / (1 + u)]. *)
Definition exp_lo (s : positive) (r : nat) (y : Q) : Q :=
  let u := y * (1 # pow2 r) in
  if Qle_bool u 1 then sq_down s r (round_down s (1 - u)) else 0.
Definition exp_hi (s : positive) (r : nat) (y : Q) : Q :=
  let u := y * (1 # pow2 r) in sq_up s r (round_up s (/ (1 + u))).

(** [sqrt d] lies in [[sqrt_lo b d, sqrt_hi b d]] (integer square root at scale [2^b]). *)
Definition isqrt_scaled (b d : nat) : Z := Z.sqrt (Z.of_nat d * Zpos (pow2 b) * Zpos (pow2 b)).
Definition sqrt_lo (b d : nat) : Q := Qmake (isqrt_scaled b d) (pow2 b).
Definition sqrt_hi (b d : nat) : Q := Qmake (isqrt_scaled b d + 1) (pow2 b).

Local Open Scope R_scope.

Lemma Q2R_Qmake z p : Q2R (Qmake z p) = IZR z / IZR (Zpos p).
Proof. reflexivity. Qed.
Lemma Q2R_1 : Q2R 1 = 1.
Proof. unfold Q2R; simpl; lra. Qed.
Lemma IZR_pos_gt0 p : 0 < IZR (Zpos p).
Proof. apply IZR_lt; lia. Qed.

Lemma round_down_le s a : Q2R (round_down s a) <= Q2R a.
Proof.
  pose proof (Qle_Rle _ _ (Qfloor_le (a * inject_Z (Zpos s)))) as H.
  rewrite Q2R_inject_Z, Q2R_mult, Q2R_inject_Z in H.
  unfold round_down; rewrite Q2R_Qmake; pose proof (IZR_pos_gt0 s).
  apply Rmult_le_reg_r with (IZR (Zpos s)); [lra |]; unfold Rdiv.
  rewrite Rmult_assoc, Rinv_l by lra; lra.
Qed.

Lemma round_up_ge s a : Q2R a <= Q2R (round_up s a).
Proof.
  pose proof (Qle_Rle _ _ (Qle_ceiling (a * inject_Z (Zpos s)))) as H.
  rewrite Q2R_inject_Z, Q2R_mult, Q2R_inject_Z in H.
  unfold round_up; rewrite Q2R_Qmake; pose proof (IZR_pos_gt0 s).
  apply Rmult_le_reg_r with (IZR (Zpos s)); [lra |]; unfold Rdiv.
  rewrite Rmult_assoc, Rinv_l by lra; lra.
Qed.

Lemma round_down_nonneg s a : 0 <= Q2R a -> 0 <= Q2R (round_down s a).
Proof.
  intros H; rewrite <- Q2R_0 in H; apply Rle_Qle in H.
  assert (0 <= Qfloor (a * inject_Z (Zpos s)))%Z.
  { change 0%Z with (Qfloor 0); apply Qfloor_resp_le, Qmult_le_0_compat; [exact H |].
    unfold Qle; simpl; lia. }
  unfold round_down; rewrite Q2R_Qmake; pose proof (IZR_pos_gt0 s).
  apply IZR_le in H0; unfold Rdiv; apply Rmult_le_pos; [exact H0 |].
  left; apply Rinv_0_lt_compat; lra.
Qed.

Lemma sq_down_spec s r : forall L z, 0 <= Q2R L <= exp (- z) ->
  0 <= Q2R (sq_down s r L) <= exp (- (2 ^ r * z)).
Proof.
  induction r as [| r IH]; intros L z [H0 H1]; simpl.
  - rewrite Rmult_1_l; lra.
  - replace (2 * 2 ^ r * z) with (2 ^ r * (2 * z)) by ring.
    apply IH; split.
    + apply round_down_nonneg; rewrite Q2R_mult; nra.
    + eapply Rle_trans; [apply round_down_le |]; rewrite Q2R_mult.
      replace (- (2 * z)) with (- z + - z) by ring; rewrite exp_plus.
      apply Rmult_le_compat; lra.
Qed.

Lemma sq_up_spec s r : forall U z, exp (- z) <= Q2R U -> exp (- (2 ^ r * z)) <= Q2R (sq_up s r U).
Proof.
  induction r as [| r IH]; intros U z H; simpl.
  - rewrite Rmult_1_l; lra.
  - replace (2 * 2 ^ r * z) with (2 ^ r * (2 * z)) by ring.
    apply IH; eapply Rle_trans; [| apply round_up_ge]; rewrite Q2R_mult.
    replace (- (2 * z)) with (- z + - z) by ring; rewrite exp_plus.
    pose proof (exp_pos (- z)); apply Rmult_le_compat; lra.
Qed.

Lemma Q2R_scale_down y r : Q2R (y * (1 # pow2 r)) * 2 ^ r = Q2R y.
Proof.
  rewrite Q2R_mult, Q2R_Qmake, IZR_pow2; field; apply pow_nonzero; lra.
Qed.

Theorem exp_lo_spec s r y : 0 <= Q2R y -> Q2R (exp_lo s r y) <= exp (- Q2R y).
Proof.
  intros Hy; unfold exp_lo; set (u := (y * (1 # pow2 r))%Q).
  assert (Hu : Q2R u * 2 ^ r = Q2R y) by apply Q2R_scale_down.
  destruct (Qle_bool u 1) eqn:E.
  - apply Qle_bool_iff, Qle_Rle in E; rewrite Q2R_1 in E.
    rewrite <- Hu, Rmult_comm; apply sq_down_spec; split.
    + apply round_down_nonneg; rewrite Q2R_minus, Q2R_1; lra.
    + eapply Rle_trans; [apply round_down_le |]; rewrite Q2R_minus, Q2R_1.
      pose proof (exp_ineq1_le (- Q2R u)); lra.
  - rewrite Q2R_0; left; apply exp_pos.
Qed.

Theorem exp_hi_spec s r y : 0 <= Q2R y -> exp (- Q2R y) <= Q2R (exp_hi s r y).
Proof.
  intros Hy; unfold exp_hi; set (u := (y * (1 # pow2 r))%Q).
  assert (Hu : Q2R u * 2 ^ r = Q2R y) by apply Q2R_scale_down.
  assert (Hu0 : 0 <= Q2R u).
  { apply Rmult_le_reg_r with (2 ^ r); [apply pow_lt; lra | lra]. }
  rewrite <- Hu, Rmult_comm; apply sq_up_spec.
  eapply Rle_trans; [| apply round_up_ge].
  assert (Hne : ~ (1 + u == 0)%Q).
  { intros Z; apply Qeq_eqR in Z; rewrite Q2R_plus, Q2R_1, Q2R_0 in Z; lra. }
  rewrite Q2R_inv, Q2R_plus, Q2R_1 by exact Hne.
  rewrite exp_Ropp; apply Rinv_le_contravar; [lra | apply exp_ineq1_le].
Qed.

Lemma isqrt_scaled_spec b d :
  let r := IZR (isqrt_scaled b d) in let P := IZR (Zpos (pow2 b)) in
  0 <= r /\ r * r <= INR d * P * P /\ INR d * P * P < (r + 1) * (r + 1).
Proof.
  intros r P; unfold r, P, isqrt_scaled; clear r P.
  set (N := (Z.of_nat d * Zpos (pow2 b) * Zpos (pow2 b))%Z).
  assert (HN : (0 <= N)%Z) by (unfold N; lia).
  destruct (Z.sqrt_spec N HN) as [H1 H2]; pose proof (Z.sqrt_nonneg N).
  rewrite INR_IZR_INZ, <- !mult_IZR, <- (plus_IZR _ 1), <- !mult_IZR; fold N.
  repeat split; [apply IZR_le; lia | apply IZR_le; lia | apply IZR_lt; lia].
Qed.

Theorem sqrt_bounds b d : Q2R (sqrt_lo b d) <= sqrt (INR d) <= Q2R (sqrt_hi b d).
Proof.
  unfold sqrt_lo, sqrt_hi; rewrite !Q2R_Qmake, plus_IZR.
  destruct (isqrt_scaled_spec b d) as [H0 [H1 H2]].
  set (r := IZR (isqrt_scaled b d)) in *; set (P := IZR (Zpos (pow2 b))) in *.
  assert (HP : 0 < P) by apply IZR_pos_gt0.
  split.
  - rewrite <- (sqrt_square (r / P)) by (unfold Rdiv; apply Rmult_le_pos; [lra | left; apply Rinv_0_lt_compat; lra]).
    apply sqrt_le_1_alt.
    replace (r / P * (r / P)) with (r * r / (P * P)) by (field; lra).
    apply Rmult_le_reg_r with (P * P); [nra |]; unfold Rdiv; rewrite Rmult_assoc, Rinv_l by nra; nra.
  - rewrite <- (sqrt_square ((r + 1) / P)) by (unfold Rdiv; apply Rmult_le_pos; [lra | left; apply Rinv_0_lt_compat; lra]).
    apply sqrt_le_1_alt.
    replace ((r + 1) / P * ((r + 1) / P)) with ((r + 1) * (r + 1) / (P * P)) by (field; lra).
    apply Rmult_le_reg_r with (P * P); [nra |]; unfold Rdiv; rewrite Rmult_assoc, Rinv_l by nra; nra.
Qed.

Lemma sqrt_lo_pos b d : (1 <= d)%nat -> 0 < Q2R (sqrt_lo b d).
Proof.
  intros Hd; unfold sqrt_lo; rewrite Q2R_Qmake.
  destruct (isqrt_scaled_spec b d) as [H0 [H1 H2]].
  set (r := IZR (isqrt_scaled b d)) in *; set (P := IZR (Zpos (pow2 b))) in *.
  assert (HP : 1 <= P) by (apply IZR_le; lia).
  assert (HD : 1 <= INR d) by (apply (le_INR 1); exact Hd).
  assert (0 < r) by (destruct H0 as [H0 | H0]; [exact H0 | exfalso; rewrite <- H0 in H2; nra]).
  unfold Rdiv; apply Rmult_lt_0_compat; [exact H | apply Rinv_0_lt_compat; lra].
Qed.
