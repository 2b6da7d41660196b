(** * ExpBounds: rational enclosures of [exp (-y)] (y >= 0) and of [sqrt d], proved. *)
From Coq Require Import ZArith QArith Qreals Qround Reals Lia Lra.
From CompactProofs Require Import Spec Lib.

(** Rounding to the grid [Z / s], down and up. *)
Definition round_down (s : positive) (a : Q) : Q := Qmake (Qfloor (a * inject_Z (Zpos s))) s.
Definition round_up (s : positive) (a : Q) : Q := Qmake (Qceiling (a * inject_Z (Zpos s))) s.

(** Fixed point with scale [2^p]: [shr_down p a = floor (a / 2^p)], [shr_up p a = ceil (a / 2^p)]
    (shifts: fast under [vm_compute]); [r] squarings, each rounded down (resp. up). *)
Definition shr_down (p : nat) (a : Z) : Z := Z.shiftr a (Z.of_nat p).
Definition shr_up (p : nat) (a : Z) : Z := (- Z.shiftr (- a) (Z.of_nat p))%Z.
Fixpoint sqz_down (p r : nat) (L : Z) : Z :=
  match r with O => L | S r' => sqz_down p r' (shr_down p (L * L)) end.
Fixpoint sqz_up (p r : nat) (U : Z) : Z :=
  match r with O => U | S r' => sqz_up p r' (shr_up p (U * U)) end.

(** With [u = y / 2^r]: [exp (-y) = exp (-u) ^ (2^r)] and [1 - u <= exp (-u) <= 1 / (1 + u)];
    the results are on the grid [2^-p]. *)
Definition exp_loz (p r : nat) (y : Q) : Z :=
  let u := (y * (1 # pow2 r))%Q in
  if Qle_bool u 1 then sqz_down p r (Qnum (round_down (pow2 p) (1 - u))) else 0%Z.
Definition exp_hiz (p r : nat) (y : Q) : Z :=
  let u := (y * (1 # pow2 r))%Q in sqz_up p r (Qnum (round_up (pow2 p) (/ (1 + u)))).
Definition exp_lo (p r : nat) (y : Q) : Q := Qmake (exp_loz p r y) (pow2 p).
Definition exp_hi (p r : nat) (y : Q) : Q := Qmake (exp_hiz p r y) (pow2 p).

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

Lemma pow2_Z n : Zpos (pow2 n) = (2 ^ Z.of_nat n)%Z.
Proof.
  induction n as [| n IH]; [reflexivity |].
  simpl pow2; rewrite Pos2Z.inj_xO, IH, Nat2Z.inj_succ, Z.pow_succ_r by lia; reflexivity.
Qed.

Lemma shr_down_spec p a : (0 <= a)%Z ->
  (0 <= shr_down p a)%Z /\ IZR (shr_down p a) * 2 ^ p <= IZR a.
Proof.
  intros H; unfold shr_down; rewrite Z.shiftr_div_pow2, <- pow2_Z by lia.
  split; [apply Z.div_pos; lia |].
  rewrite <- IZR_pow2, <- mult_IZR; apply IZR_le; rewrite Z.mul_comm; apply Z.mul_div_le; lia.
Qed.

Lemma shr_up_spec p a : IZR a <= IZR (shr_up p a) * 2 ^ p.
Proof.
  unfold shr_up; rewrite Z.shiftr_div_pow2, <- pow2_Z by lia.
  rewrite <- IZR_pow2, <- mult_IZR; apply IZR_le.
  pose proof (Z.mul_div_le (- a) (Zpos (pow2 p)) ltac:(lia)); lia.
Qed.

Lemma sqz_down_spec p r : forall L z, (0 <= L)%Z -> IZR L / 2 ^ p <= exp (- z) ->
  (0 <= sqz_down p r L)%Z /\ IZR (sqz_down p r L) / 2 ^ p <= exp (- (2 ^ r * z)).
Proof.
  assert (HP : 0 < 2 ^ p) by (apply pow_lt; lra).
  induction r as [| r IH]; intros L z H0 H1; simpl.
  - rewrite Rmult_1_l; split; [exact H0 | exact H1].
  - replace (2 * 2 ^ r * z) with (2 ^ r * (2 * z)) by ring.
    destruct (shr_down_spec p (L * L) ltac:(nia)) as [S0 S1].
    apply IH; [exact S0 |].
    assert (HL : 0 <= IZR L / 2 ^ p) by (unfold Rdiv; apply Rmult_le_pos; [apply IZR_le; lia | left; apply Rinv_0_lt_compat; lra]).
    replace (- (2 * z)) with (- z + - z) by ring; rewrite exp_plus.
    apply Rle_trans with ((IZR L / 2 ^ p) * (IZR L / 2 ^ p)); [| apply Rmult_le_compat; lra].
    rewrite mult_IZR in S1; apply Rmult_le_reg_r with (2 ^ p); [exact HP |].
    unfold Rdiv; field_simplify; [| lra | lra]; apply Rmult_le_reg_r with (2 ^ p); [exact HP |].
    field_simplify; [nra | lra].
Qed.

Lemma sqz_up_spec p r : forall U z, exp (- z) <= IZR U / 2 ^ p ->
  exp (- (2 ^ r * z)) <= IZR (sqz_up p r U) / 2 ^ p.
Proof.
  assert (HP : 0 < 2 ^ p) by (apply pow_lt; lra).
  induction r as [| r IH]; intros U z H; simpl.
  - rewrite Rmult_1_l; lra.
  - replace (2 * 2 ^ r * z) with (2 ^ r * (2 * z)) by ring.
    apply IH; pose proof (shr_up_spec p (U * U)) as S1; rewrite mult_IZR in S1.
    replace (- (2 * z)) with (- z + - z) by ring; rewrite exp_plus.
    pose proof (exp_pos (- z)).
    apply Rle_trans with ((IZR U / 2 ^ p) * (IZR U / 2 ^ p)); [apply Rmult_le_compat; lra |].
    apply Rmult_le_reg_r with (2 ^ p * 2 ^ p); [nra |].
    unfold Rdiv; field_simplify; [| lra | lra]; nra.
Qed.

Lemma Q2R_scale_down y r : Q2R (y * (1 # pow2 r)) * 2 ^ r = Q2R y.
Proof.
  rewrite Q2R_mult, Q2R_Qmake, IZR_pow2; field; apply pow_nonzero; lra.
Qed.

Lemma Q2R_grid p z : Q2R (Qmake z (pow2 p)) = IZR z / 2 ^ p.
Proof. rewrite Q2R_Qmake, IZR_pow2; reflexivity. Qed.

Theorem exp_lo_spec p r y : 0 <= Q2R y -> Q2R (exp_lo p r y) <= exp (- Q2R y).
Proof.
  intros Hy; unfold exp_lo, exp_loz; set (u := (y * (1 # pow2 r))%Q).
  assert (Hu : Q2R u * 2 ^ r = Q2R y) by apply Q2R_scale_down.
  destruct (Qle_bool u 1) eqn:E.
  - apply Qle_bool_iff, Qle_Rle in E; rewrite Q2R_1 in E.
    set (a := round_down (pow2 p) (1 - u)).
    assert (Ha0 : 0 <= Q2R a) by (apply round_down_nonneg; rewrite Q2R_minus, Q2R_1; lra).
    assert (Ha1 : Q2R a <= exp (- Q2R u)).
    { eapply Rle_trans; [apply round_down_le |]; rewrite Q2R_minus, Q2R_1.
      pose proof (exp_ineq1_le (- Q2R u)); lra. }
    assert (Ea : Q2R a = IZR (Qnum a) / 2 ^ p) by (unfold a, round_down; apply Q2R_grid).
    assert (Hn : (0 <= Qnum a)%Z).
    { apply le_IZR; rewrite Ea in Ha0; assert (0 < 2 ^ p) by (apply pow_lt; lra).
      apply Rmult_le_reg_r with (/ 2 ^ p); [apply Rinv_0_lt_compat; lra | rewrite Rmult_0_l; exact Ha0]. }
    rewrite Q2R_grid, <- Hu, Rmult_comm; apply sqz_down_spec; [exact Hn | rewrite <- Ea; exact Ha1].
  - rewrite Q2R_grid; unfold Rdiv; rewrite Rmult_0_l; left; apply exp_pos.
Qed.

Theorem exp_hi_spec p r y : 0 <= Q2R y -> exp (- Q2R y) <= Q2R (exp_hi p r y).
Proof.
  intros Hy; unfold exp_hi, exp_hiz; set (u := (y * (1 # pow2 r))%Q).
  assert (Hu : Q2R u * 2 ^ r = Q2R y) by apply Q2R_scale_down.
  assert (Hu0 : 0 <= Q2R u).
  { apply Rmult_le_reg_r with (2 ^ r); [apply pow_lt; lra | lra]. }
  rewrite Q2R_grid, <- Hu, Rmult_comm; apply sqz_up_spec.
  set (a := round_up (pow2 p) (/ (1 + u))).
  assert (Ea : Q2R a = IZR (Qnum a) / 2 ^ p) by (unfold a, round_up; apply Q2R_grid).
  rewrite <- Ea; eapply Rle_trans; [| apply round_up_ge].
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
