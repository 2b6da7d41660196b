(** * BruteForce: the brute-force check (dyadic numbers and [Q], run by [vm_compute]), and [brute_force_sound]. *)
From Coq Require Import ZArith QArith Qreals Qround Reals List Lia Lra.
From CompactProofs Require Import Spec Lib ExpBounds.
Import ListNotations.

Definition qmax2 (a b : Q) : Q := if Qle_bool a b then b else a.
Definition qmaxl (l : list Q) : Q := fold_right qmax2 (hd 0%Q l) l.

Section Check.
Variable d : Data.

(** The model's exact quantities as dyadic numbers, computed as Spec.v defines them over [R].
    Vectors are computed once per input and position ([vec]) and read back with [rd]. *)
Definition rd (l : list D) (k : nat) : D := nth k l (0, 0)%Z.
Definition vec (n : nat) (f : nat -> D) : list D := map f (seq 0 n).
Definition qp : nat := (n_ctx d - 1)%nat.
Definition dx (t : list nat) (i k : nat) : D :=
  dplus (dentry (W_E d) (tok t i) k) (dentry (W_pos d) i k).
(** [xv W + b] at column [h] *)
Definition affine (w b : Tensor) (xv : nat -> D) (h : nat) : D :=
  dplus (dsum (d_model d) (fun k => dmult (xv k) (dentry w k h))) (dentry b 0 h).
Definition dot (n : nat) (a b : nat -> D) : D := dsum n (fun h => dmult (a h) (b h)).
(** the logit difference [m] minus [j] is [sum_i a_i (dC + dD i)]: see [margin_average] *)
Definition dU (m j k : nat) : D := dminus (dentry (W_U d) k m) (dentry (W_U d) k j).
Definition dC (xq : nat -> D) (m j : nat) : D :=
  dplus (dsum (d_model d) (fun k => dmult (dplus (xq k) (dentry (b_O d) 0 k)) (dU m j k)))
        (dminus (dentry (b_U d) 0 m) (dentry (b_U d) 0 j)).
Definition dov (vv : nat -> D) (k : nat) : D :=
  dsum (d_head d) (fun h => dmult (vv h) (dentry (W_O d) h k)).
Definition dD (ov : nat -> D) (m j : nat) : D :=
  dsum (d_model d) (fun k => dmult (ov k) (dU m j k)).
(** a lower bound of [sum_i w_i e_i] for [lo_i <= w_i <= hi_i] *)
Definition lower_sum (lo hi e : nat -> D) : D :=
  dsum (n_ctx d) (fun i => if Z.leb 0 (fst (e i)) then dmult (lo i) (e i) else dmult (hi i) (e i)).

(** Per input [t]: the residual vectors [x_i], the query, keys and values, the scores times [sqrt d_head],
    and [ov_i = value_i W_O], each computed once. *)
Definition xs_of (t : list nat) : list (list D) := map (fun i => vec (d_model d) (dx t i)) (seq 0 (n_ctx d)).
Definition row (xs : list (list D)) (i : nat) : nat -> D := rd (nth i xs []).
Definition qv_of (xs : list (list D)) : nat -> D := rd (vec (d_head d) (affine (W_Q d) (b_Q d) (row xs qp))).
Definition kv_of (xs : list (list D)) (i : nat) : nat -> D :=
  rd (vec (d_head d) (affine (W_K d) (b_K d) (row xs i))).
Definition vv_of (xs : list (list D)) (i : nat) : nat -> D :=
  rd (vec (d_head d) (affine (W_V d) (b_V d) (row xs i))).
Definition scores_of (xs : list (list D)) (qv : nat -> D) : list Q :=
  map (fun i => D2Q (dot (d_head d) qv (kv_of xs i))) (seq 0 (n_ctx d)).
Definition ovs_of (xs : list (list D)) : list (list D) :=
  map (fun i => vec (d_model d) (dov (vv_of xs i))) (seq 0 (n_ctx d)).

(** [bf_correct p r t]: input [t] is certified correct, with softmax factors
    [w_i = exp ((S_i - max S) / sqrt d_head)] enclosed on the grid [2^-p] after [r] squarings. *)
Definition bf_correct (p r : nat) (t : list nat) : bool :=
  let xs := xs_of t in
  let S := scores_of xs (qv_of xs) in
  let smax := qmaxl S in
  let ws := map (fun i => let dl := (smax - nth i S 0)%Q in
                          (exp_loz p r (dl / sqrt_lo p (d_head d)),
                           exp_hiz p r (dl / sqrt_hi p (d_head d)))) (seq 0 (n_ctx d)) in
  let ovs := ovs_of xs in
  let m := list_max t in
  forallb (fun j => orb (Nat.eqb j m)
             (let c := dC (row xs qp) m j in
              Z.ltb 0 (fst (lower_sum (fun i => (fst (nth i ws (0, 0)), - Z.of_nat p))
                                      (fun i => (snd (nth i ws (0, 0)), - Z.of_nat p))
                                      (fun i => dplus c (dD (rd (nth i ovs [])) m j))))%Z))
          (seq 0 (d_vocab d)).

Definition bf_count (p r : nat) : nat := length (filter (bf_correct p r) (seqs (d_vocab d) (n_ctx d))).

(** The check: [claim <= bf_count / d_vocab ^ n_ctx], on a model with [d_vocab, n_ctx, d_head >= 1]. *)
Definition bf_check (p r : nat) : bool :=
  (1 <=? d_vocab d)%nat && (1 <=? n_ctx d)%nat && (1 <=? d_head d)%nat && (0 <? claim_den d)%Z &&
  (claim_num d * Z.of_nat (d_vocab d) ^ Z.of_nat (n_ctx d) <=? Z.of_nat (bf_count p r) * claim_den d)%Z.

End Check.

(** ** Soundness *)
Local Open Scope R_scope.

Lemma nth_map_seq {A} (f : nat -> A) n i (dft : A) : (i < n)%nat -> nth i (map f (seq 0 n)) dft = f i.
Proof.
  intros H; rewrite nth_indep with (d' := f 0%nat) by (rewrite map_length, seq_length; exact H).
  rewrite map_nth, seq_nth by exact H; reflexivity.
Qed.

Lemma qmax2_ge a b : Q2R a <= Q2R (qmax2 a b) /\ Q2R b <= Q2R (qmax2 a b).
Proof.
  unfold qmax2; destruct (Qle_bool a b) eqn:E.
  - apply Qle_bool_iff, Qle_Rle in E; lra.
  - split; [lra |]; apply Qlt_le_weak, Qlt_Rlt in E || idtac.
    assert (~ (a <= b)%Q) by (intros L; apply Qle_bool_iff in L; congruence).
    apply Qnot_le_lt, Qlt_Rlt in H; lra.
Qed.

Lemma fold_qmax_ge init l a : In a l -> Q2R a <= Q2R (fold_right qmax2 init l).
Proof.
  induction l as [| b l IH]; simpl; [tauto |]; intros [E | H].
  - subst; apply qmax2_ge.
  - eapply Rle_trans; [apply IH, H | apply qmax2_ge].
Qed.
Lemma qmaxl_ge l a : In a l -> Q2R a <= Q2R (qmaxl l).
Proof. apply fold_qmax_ge. Qed.

Lemma filter_length_mono {A} (f g : A -> bool) l :
  (forall a, In a l -> f a = true -> g a = true) -> (length (filter f l) <= length (filter g l))%nat.
Proof.
  induction l as [| a l IH]; simpl; intros H; [lia |].
  assert (IH' : (length (filter f l) <= length (filter g l))%nat) by (apply IH; auto).
  destruct (f a) eqn:F; [rewrite (H a (or_introl eq_refl) F); simpl; lia |].
  destruct (g a); simpl; lia.
Qed.

Lemma exp_mono a b : a <= b -> exp a <= exp b.
Proof. intros H; destruct (Rle_lt_or_eq_dec _ _ H); [left; apply exp_increasing | right; subst]; auto. Qed.
Lemma div_nonneg a b : 0 <= a -> 0 < b -> 0 <= a / b.
Proof. intros; unfold Rdiv; apply Rmult_le_pos; [lra | left; apply Rinv_0_lt_compat; lra]. Qed.
Lemma div_mono a b c : 0 <= a -> 0 < b <= c -> a / c <= a / b.
Proof. intros; unfold Rdiv; apply Rmult_le_compat_l; [lra | apply Rinv_le_contravar; lra]. Qed.

Lemma sum_minus n f g : sum n (fun i => f i - g i) = sum n f - sum n g.
Proof. induction n; simpl; [lra | rewrite IHn; lra]. Qed.

(** Softmax as a weighted average: with [a = attn t] ([sum_i a_i = 1] when [K >= 1]),
    the logit difference is [sum_i a_i (C + D_i)]. *)
Section Average.
Variable M : Model.
Definition Ur (m j k : nat) : R := WU M k m - WU M k j.
Definition ovr (t : list nat) (i k : nat) : R := sum (dhead M) (fun h => value M t i h * WO M h k).
Definition Cr (t : list nat) (m j : nat) : R :=
  sum (dmodel M) (fun k => (x M t (qpos M) k + bO M k) * Ur m j k) + (bU M m - bU M j).
Definition Dr (t : list nat) (m j i : nat) : R := sum (dmodel M) (fun k => ovr t i k * Ur m j k).

Lemma attn_sum t : (1 <= ctx M)%nat -> sum (ctx M) (fun i => attn M t i) = 1.
Proof.
  intros HK; unfold attn; unfold Rdiv; rewrite sum_scal_r; apply Rinv_r.
  apply Rgt_not_eq, sum_pos; [lia | intros; apply exp_pos].
Qed.

Lemma resid_split t k :
  resid M t k = (x M t (qpos M) k + bO M k) + sum (ctx M) (fun i => attn M t i * ovr t i k).
Proof.
  unfold resid, ovr.
  assert (E : sum (dhead M) (fun h => sum (ctx M) (fun i => attn M t i * value M t i h) * WO M h k)
            = sum (ctx M) (fun i => attn M t i * sum (dhead M) (fun h => value M t i h * WO M h k))).
  { transitivity (sum (dhead M) (fun h => sum (ctx M) (fun i => attn M t i * value M t i h * WO M h k))).
    - apply sum_ext; intros; rewrite <- sum_scal_r; reflexivity.
    - rewrite sum_swap; apply sum_ext; intros; rewrite <- sum_scal_l; apply sum_ext; intros; ring. }
  rewrite E; ring.
Qed.

Theorem margin_average t m j : (1 <= ctx M)%nat ->
  logit M t m - logit M t j = sum (ctx M) (fun i => attn M t i * (Cr t m j + Dr t m j i)).
Proof.
  intros HK; unfold logit.
  transitivity (sum (dmodel M) (fun k => resid M t k * Ur m j k) + (bU M m - bU M j));
    [assert (E : sum (dmodel M) (fun k => resid M t k * Ur m j k) = sum (dmodel M)
         (fun k => resid M t k * WU M k m) - sum (dmodel M) (fun k => resid M t k * WU M k j))
         by (rewrite <- sum_minus; apply sum_ext; intros; unfold Ur; ring); rewrite E; ring |].
  transitivity (sum (dmodel M) (fun k => (x M t (qpos M) k + bO M k) * Ur m j k)
     + sum (ctx M) (fun i => attn M t i * Dr t m j i) + (bU M m - bU M j)).
  - f_equal.
    replace (sum (ctx M) (fun i => attn M t i * Dr t m j i))
      with (sum (dmodel M) (fun k => sum (ctx M) (fun i => attn M t i * ovr t i k) * Ur m j k)).
    + rewrite <- sum_plus; apply sum_ext; intros; rewrite resid_split; ring.
    + transitivity (sum (dmodel M) (fun k => sum (ctx M) (fun i => attn M t i * ovr t i k * Ur m j k))).
      * apply sum_ext; intros; rewrite <- sum_scal_r; reflexivity.
      * unfold Dr; rewrite sum_swap; apply sum_ext; intros; rewrite <- sum_scal_l.
        apply sum_ext; intros; ring.
  - transitivity (sum (ctx M) (fun i => attn M t i * Cr t m j + attn M t i * Dr t m j i));
      [| apply sum_ext; intros; ring].
    rewrite sum_plus, (sum_scal_r (ctx M) (Cr t m j) (attn M t)), attn_sum by exact HK.
    unfold Cr; ring.
Qed.
End Average.

Section Proof.
Variable d : Data.
Notation M := (model_of d).

Ltac lin := repeat first [rewrite D2R_dplus | rewrite D2R_dminus | rewrite D2R_dmult | rewrite D2R_dsum
                         | rewrite D2R_dentry].

(** [f] represents [g] on [0 .. n-1] *)
Definition Rep (f : nat -> D) (g : nat -> R) (n : nat) : Prop := forall k, (k < n)%nat -> D2R (f k) = g k.

Lemma Rep_vec f g n : Rep f g n -> Rep (rd (vec n f)) g n.
Proof. intros H k Hk; unfold rd, vec; rewrite nth_map_seq by exact Hk; apply H, Hk. Qed.

Lemma D2R_dx t i k : D2R (dx d t i k) = x M t i k.
Proof. unfold dx; lin; reflexivity. Qed.

Lemma D2R_affine w b xv xr h : Rep xv xr (d_model d) ->
  D2R (affine d w b xv h) = sum (d_model d) (fun k => xr k * entry w k h) + entry b 0 h.
Proof. intros H; unfold affine; lin; f_equal; apply sum_ext; intros; lin; rewrite H by assumption; reflexivity. Qed.

Lemma D2R_dot n a b ar br : Rep a ar n -> Rep b br n -> D2R (dot n a b) = sum n (fun h => ar h * br h).
Proof. intros Ha Hb; unfold dot; lin; apply sum_ext; intros; lin; rewrite Ha, Hb by assumption; reflexivity. Qed.

Lemma Rep_row t i : (i < n_ctx d)%nat -> Rep (row (xs_of d t) i) (x M t i) (d_model d).
Proof. intros Hi; unfold row, xs_of; rewrite nth_map_seq by exact Hi; apply Rep_vec; intros k _; apply D2R_dx. Qed.
Lemma Rep_qv t : (1 <= n_ctx d)%nat -> Rep (qv_of d (xs_of d t)) (query M t) (d_head d).
Proof.
  intros HK; unfold qv_of; apply Rep_vec; intros h _; rewrite (D2R_affine _ _ _ (x M t (qp d))).
  - reflexivity.
  - apply Rep_row; unfold qp; lia.
Qed.
Lemma Rep_kv t i : (i < n_ctx d)%nat -> Rep (kv_of d (xs_of d t) i) (key M t i) (d_head d).
Proof.
  intros Hi; unfold kv_of; apply Rep_vec; intros h _; rewrite (D2R_affine _ _ _ (x M t i)).
  - reflexivity.
  - apply Rep_row, Hi.
Qed.
Lemma Rep_vv t i : (i < n_ctx d)%nat -> Rep (vv_of d (xs_of d t) i) (value M t i) (d_head d).
Proof.
  intros Hi; unfold vv_of; apply Rep_vec; intros h _; rewrite (D2R_affine _ _ _ (x M t i)).
  - reflexivity.
  - apply Rep_row, Hi.
Qed.

Lemma D2R_dU m j k : D2R (dU d m j k) = Ur M m j k.
Proof. unfold dU, Ur; lin; reflexivity. Qed.
Lemma D2R_dC xq t m j : Rep xq (x M t (qpos M)) (d_model d) -> D2R (dC d xq m j) = Cr M t m j.
Proof.
  intros H; unfold dC, Cr; lin; f_equal; try reflexivity; apply sum_ext; intros; lin.
  rewrite H, D2R_dU by assumption; reflexivity.
Qed.
Lemma D2R_dov vv t i k : Rep vv (value M t i) (d_head d) -> D2R (dov d vv k) = ovr M t i k.
Proof. intros H; unfold dov, ovr; lin; apply sum_ext; intros; lin; rewrite H by assumption; reflexivity. Qed.
Lemma D2R_dD (ov : nat -> D) t m j i :
  (forall k, (k < d_model d)%nat -> D2R (ov k) = ovr M t i k) -> D2R (dD d ov m j) = Dr M t m j i.
Proof.
  intros H; unfold dD, Dr; lin; apply sum_ext; intros; lin; rewrite D2R_dU, H by assumption; reflexivity.
Qed.

(** If [lo_i <= w_i <= hi_i], [lower_sum lo hi e <= sum_i w_i e_i]. *)
Lemma D2R_sign a : (0 <= fst a)%Z <-> 0 <= D2R a.
Proof.
  destruct a as [m e]; unfold D2R; simpl; pose proof (powerRZ_lt 2 e ltac:(lra)) as P; split; intros H.
  - apply Rmult_le_pos; [apply IZR_le; exact H | lra].
  - apply le_IZR; apply Rmult_le_reg_r with (powerRZ 2 e); [exact P | rewrite Rmult_0_l; exact H].
Qed.
Lemma D2R_pos a : (0 < fst a)%Z -> 0 < D2R a.
Proof.
  destruct a as [m e]; unfold D2R; simpl; intros H; apply Rmult_lt_0_compat;
    [apply IZR_lt; exact H | apply powerRZ_lt; lra].
Qed.
Lemma D2R_grid z p : D2R (z, - Z.of_nat p)%Z = Q2R (Qmake z (pow2 p)).
Proof.
  rewrite <- Q2R_D2Q; f_equal; destruct p as [| p]; [reflexivity |].
  unfold D2Q, dyq; simpl; rewrite SuccNat2Pos.id_succ; reflexivity.
Qed.

(** If [lo_i <= w_i <= hi_i], [lower_sum lo hi e <= sum_i w_i e_i]. *)
Lemma lower_sum_le (lo hi e : nat -> D) (w : nat -> R) :
  (forall i, (i < n_ctx d)%nat -> D2R (lo i) <= w i <= D2R (hi i)) ->
  D2R (lower_sum d lo hi e) <= sum (n_ctx d) (fun i => w i * D2R (e i)).
Proof.
  intros H; unfold lower_sum; rewrite D2R_dsum; apply sum_le; intros i Hi.
  specialize (H i Hi); destruct (Z.leb 0 (fst (e i))) eqn:E; rewrite D2R_dmult.
  - apply Z.leb_le, D2R_sign in E; apply Rmult_le_compat_r; lra.
  - assert (~ (0 <= D2R (e i))) by (rewrite <- D2R_sign; apply Z.leb_nle, E).
    nra.
Qed.

Theorem bf_correct_sound p r t :
  (1 <= n_ctx d)%nat -> (1 <= d_head d)%nat -> bf_correct d p r t = true -> correct M t.
Proof.
  intros HK HD H j Hj Hne; cbv zeta in H; unfold bf_correct in H.
  set (S := scores_of d (xs_of d t) (qv_of d (xs_of d t))) in H.
  set (smax := qmaxl S) in H.
  set (ws := map _ (seq 0 (n_ctx d))) in H.
  set (ovs := ovs_of d (xs_of d t)) in H.
  apply forallb_forall with (x := j) in H; [| apply in_seq; simpl in *; lia].
  apply Bool.orb_prop in H; destruct H as [H | H]; [apply PeanoNat.Nat.eqb_eq in H; contradiction |].
  apply Z.ltb_lt, D2R_pos in H.
  set (sq := sqrt (INR (d_head d))).
  assert (Hsq : Q2R (sqrt_lo p (d_head d)) <= sq <= Q2R (sqrt_hi p (d_head d))) by apply sqrt_bounds.
  assert (Hsq0 : 0 < Q2R (sqrt_lo p (d_head d))) by (apply sqrt_lo_pos; exact HD).
  (* the softmax factors relative to the largest score *)
  set (w := fun i => exp (score M t i - Q2R smax / sq)).
  assert (Hw : forall i, (i < n_ctx d)%nat ->
     D2R (fst (nth i ws (0, 0)%Z), - Z.of_nat p)%Z <= w i <= D2R (snd (nth i ws (0, 0)%Z), - Z.of_nat p)%Z).
  { intros i Hi; unfold ws; rewrite nth_map_seq by exact Hi; simpl fst; simpl snd; rewrite !D2R_grid.
    set (Si := D2Q (dot (d_head d) (qv_of d (xs_of d t)) (kv_of d (xs_of d t) i))).
    assert (ES : nth i S 0%Q = Si) by (unfold S, scores_of; apply nth_map_seq; exact Hi).
    assert (Hin : In Si S).
    { rewrite <- ES; apply nth_In; unfold S, scores_of; rewrite map_length, seq_length; exact Hi. }
    rewrite ES; pose proof (qmaxl_ge _ _ Hin) as Hmax; fold smax in Hmax.
    set (dl := (smax - Si)%Q).
    assert (Hdl : 0 <= Q2R dl) by (unfold dl; rewrite Q2R_minus; lra).
    assert (Hwi : w i = exp (- (Q2R dl / sq))).
    { unfold w, dl, score, Si; rewrite Q2R_minus, Q2R_D2Q, (D2R_dot _ _ _ (query M t) (key M t i))
        by (apply Rep_qv, HK || apply Rep_kv, Hi); f_equal; simpl; fold sq; field; lra. }
    rewrite Hwi.
    assert (Hne0 : forall b, ~ (b == 0)%Q -> Q2R (dl / b) = Q2R dl / Q2R b) by (intros; apply Q2R_div; auto).
    assert (Hlo : ~ (sqrt_lo p (d_head d) == 0)%Q) by (intros E; apply Qeq_eqR in E; rewrite Q2R_0 in E; lra).
    assert (Hhi : ~ (sqrt_hi p (d_head d) == 0)%Q) by (intros E; apply Qeq_eqR in E; rewrite Q2R_0 in E; lra).
    split.
    - assert (Hy : 0 <= Q2R dl / Q2R (sqrt_lo p (d_head d))) by (apply div_nonneg; lra).
      pose proof (exp_lo_spec p r (dl / sqrt_lo p (d_head d))) as E; rewrite Hne0 in E by exact Hlo.
      eapply Rle_trans; [exact (E Hy) |]; apply exp_mono, Ropp_le_contravar, div_mono; lra.
    - assert (Hy : 0 <= Q2R dl / Q2R (sqrt_hi p (d_head d))) by (apply div_nonneg; lra).
      pose proof (exp_hi_spec p r (dl / sqrt_hi p (d_head d))) as E; rewrite Hne0 in E by exact Hhi.
      eapply Rle_trans; [| exact (E Hy)]; apply exp_mono, Ropp_le_contravar, div_mono; lra. }
  apply (lower_sum_le _ _ (fun i => dplus (dC d (row (xs_of d t) (qp d)) (list_max t) j)
            (dD d (rd (nth i ovs [])) (list_max t) j))) in Hw.
  assert (Hsum : 0 < sum (n_ctx d) (fun i => w i * (Cr M t (list_max t) j + Dr M t (list_max t) j i))).
  { eapply Rlt_le_trans; [exact H |]; eapply Rle_trans; [exact Hw |]; right; apply sum_ext; intros i Hi.
    assert (Hq : Rep (row (xs_of d t) (qp d)) (x M t (qpos M)) (d_model d)) by (apply Rep_row; unfold qp, qpos; simpl; lia).
    assert (Ho : forall k, (k < d_model d)%nat -> D2R (rd (nth i ovs []) k) = ovr M t i k).
    { intros k Hk; unfold ovs, ovs_of, rd; rewrite nth_map_seq by exact Hi; unfold vec.
      rewrite nth_map_seq by exact Hk; apply D2R_dov, Rep_vv, Hi. }
    rewrite D2R_dplus, (D2R_dC _ t _ _ Hq), (D2R_dD _ t _ _ i Ho); reflexivity. }
  apply Rminus_gt_0_lt; rewrite (margin_average M t _ _ HK).
  set (Z := sum (ctx M) (fun l => exp (score M t l))).
  assert (HZ : 0 < Z) by (apply sum_pos; [exact HK | intros; apply exp_pos]).
  replace (sum (ctx M) (fun i => attn M t i * (Cr M t (list_max t) j + Dr M t (list_max t) j i)))
    with (exp (Q2R smax / sq) / Z * sum (n_ctx d) (fun i => w i * (Cr M t (list_max t) j + Dr M t (list_max t) j i))).
  - apply Rmult_lt_0_compat; [| exact Hsum]; unfold Rdiv; apply Rmult_lt_0_compat;
      [apply exp_pos | apply Rinv_0_lt_compat, HZ].
  - rewrite <- sum_scal_l; apply sum_ext; intros i Hi; unfold attn, w; fold Z.
    assert (E : exp (score M t i) = exp (score M t i - Q2R smax / sq) * exp (Q2R smax / sq))
      by (rewrite <- exp_plus; f_equal; ring).
    rewrite E; field; lra.
Qed.

End Proof.

Theorem brute_force_sound (d : Data) (p r : nat) :
  bf_check d p r = true -> (claim d <= accuracy (model_of d))%R.
Proof.
  unfold bf_check; intros H.
  apply andb_prop in H as [H Hc]; apply andb_prop in H as [H Hden].
  apply andb_prop in H as [H Hhd]; apply andb_prop in H as [Hv HK].
  apply PeanoNat.Nat.leb_le in Hv, HK, Hhd; apply Z.ltb_lt in Hden; apply Z.leb_le in Hc.
  assert (Hcnt : (bf_count d p r <= length (filter (correctb (model_of d)) (seqs (d_vocab d) (n_ctx d))))%nat).
  { apply filter_length_mono; intros t _ Ht; apply correctb_iff; eapply bf_correct_sound; eauto. }
  unfold claim, accuracy; simpl.
  rewrite <- Nat2Z.inj_pow in Hc.
  assert (HV : (1 <= d_vocab d ^ n_ctx d)%nat).
  { rewrite <- (PeanoNat.Nat.pow_1_l (n_ctx d)); apply PeanoNat.Nat.pow_le_mono_l; exact Hv. }
  apply le_INR in Hcnt, HV; simpl in HV.
  apply IZR_le in Hc; rewrite !mult_IZR, <- !INR_IZR_INZ in Hc; apply IZR_lt in Hden.
  apply Rle_trans with (INR (bf_count d p r) / INR (d_vocab d ^ n_ctx d)).
  - apply Rmult_le_reg_r with (IZR (claim_den d) * INR (d_vocab d ^ n_ctx d)); [nra |].
    unfold Rdiv; field_simplify; [nra | lra | lra].
  - unfold Rdiv; apply Rmult_le_compat_r; [left; apply Rinv_0_lt_compat; lra | exact Hcnt].
Qed.
