(** * Average: softmax as a weighted average, and the linear-fractional attention.

    docs/proofs/cubic.md, steps 1 and 2, use three facts about a weighted average
    [avg w v = (sum_i w_i v_i) / (sum_i w_i)] with positive weights [w_i]:
    - it lies between the smallest and the largest averaged value ([avg_between]);
    - as a function of one weight [w_j = x] it is the linear-fractional function
      [x -> (A + x B) / (C + x D)] ([avg_one_weight]), which is monotone, so over an interval
      [x0 <= x <= x1] of that weight its extremes are at the endpoints ([linfrac_between],
      [avg_weight_interval]);
    - a sum of weighted terms, each at most its pessimised bound, is at most the weighted sum of the
      bounds ([wsum_pessimise]: the "max of a sum <= sum of maxes" of step 1). *)
From Coq Require Import Reals Lra Lia.
From CompactProofs Require Import Spec Lib.
Local Open Scope R_scope.

Definition avg (n : nat) (w v : nat -> R) : R := sum n (fun i => w i * v i) / sum n w.

(** A weighted average with positive weights lies between the min and the max of the values. *)
Theorem avg_between (n : nat) (w v : nat -> R) (lo hi : R) :
  (0 < n)%nat -> (forall i, (i < n)%nat -> 0 < w i) ->
  (forall i, (i < n)%nat -> lo <= v i <= hi) -> lo <= avg n w v <= hi.
Proof.
  intros Hn Hw Hv; unfold avg.
  assert (HS : 0 < sum n w) by (apply sum_pos; assumption).
  assert (L : lo * sum n w <= sum n (fun i => w i * v i)).
  { rewrite <- sum_scal_l; apply sum_le; intros i Hi.
    specialize (Hw i Hi); specialize (Hv i Hi); nra. }
  assert (U : sum n (fun i => w i * v i) <= hi * sum n w).
  { rewrite <- sum_scal_l; apply sum_le; intros i Hi.
    specialize (Hw i Hi); specialize (Hv i Hi); nra. }
  split.
  - apply (Rmult_le_reg_r (sum n w)); [exact HS |].
    unfold Rdiv; rewrite Rmult_assoc, Rinv_l by lra; lra.
  - apply (Rmult_le_reg_r (sum n w)); [exact HS |].
    unfold Rdiv; rewrite Rmult_assoc, Rinv_l by lra; lra.
Qed.

(** Softmax is such an average: Spec.v's [attn] gives [sum_i attn_i v_i = avg (exp score) v]. *)
Lemma attn_avg (M : Model) (t : list nat) (v : nat -> R) :
  sum (ctx M) (fun i => attn M t i * v i) = avg (ctx M) (fun i => exp (score M t i)) v.
Proof.
  unfold avg, attn, Rdiv.
  rewrite <- sum_scal_r; apply sum_ext; intros i _; ring.
Qed.

(** ** The linear-fractional function [x -> (A + x B) / (C + x D)] *)

Definition linfrac (A B C D x : R) : R := (A + x * B) / (C + x * D).

Lemma linfrac_diff A B C D x y : C + x * D <> 0 -> C + y * D <> 0 ->
  linfrac A B C D y - linfrac A B C D x =
  (y - x) * (B * C - A * D) / ((C + x * D) * (C + y * D)).
Proof. intros Hx Hy; unfold linfrac; field; split; assumption. Qed.

(** Monotone: nondecreasing if [B C - A D >= 0], nonincreasing otherwise, wherever the
    denominator is positive. *)
Theorem linfrac_mono A B C D x y : 0 < C + x * D -> 0 < C + y * D -> x <= y ->
  (0 <= B * C - A * D -> linfrac A B C D x <= linfrac A B C D y) /\
  (B * C - A * D <= 0 -> linfrac A B C D y <= linfrac A B C D x).
Proof.
  intros Hx Hy Hxy.
  assert (E := linfrac_diff A B C D x y ltac:(lra) ltac:(lra)).
  assert (P : 0 < (C + x * D) * (C + y * D)) by (apply Rmult_lt_0_compat; assumption).
  assert (Q : 0 < / ((C + x * D) * (C + y * D))) by (apply Rinv_0_lt_compat, P).
  unfold Rdiv in E.
  split; intros Hs.
  - assert (0 <= (y - x) * (B * C - A * D) * / ((C + x * D) * (C + y * D))); [| lra].
    apply Rmult_le_pos; [apply Rmult_le_pos; lra | lra].
  - assert (0 <= (y - x) * - (B * C - A * D) * / ((C + x * D) * (C + y * D))); [| lra].
    apply Rmult_le_pos; [apply Rmult_le_pos; lra | lra].
Qed.

(** Over an interval of [x] with a positive denominator at both ends, the value lies between the
    values at the endpoints. *)
Theorem linfrac_between A B C D x0 x1 x : 0 < C + x0 * D -> 0 < C + x1 * D -> x0 <= x <= x1 ->
  Rmin (linfrac A B C D x0) (linfrac A B C D x1) <= linfrac A B C D x
  <= Rmax (linfrac A B C D x0) (linfrac A B C D x1).
Proof.
  intros H0 H1 Hx.
  assert (Hm : 0 < C + x * D).
  { destruct (Rle_dec 0 D) as [HD | HD]; nra. }
  destruct (Rle_dec 0 (B * C - A * D)) as [Hs | Hs].
  - destruct (linfrac_mono A B C D x0 x H0 Hm (proj1 Hx)) as [L _].
    destruct (linfrac_mono A B C D x x1 Hm H1 (proj2 Hx)) as [U _].
    specialize (L Hs); specialize (U Hs).
    split; [apply (Rle_trans _ _ _ (Rmin_l _ _) L) | apply (Rle_trans _ _ _ U (Rmax_r _ _))].
  - destruct (linfrac_mono A B C D x0 x H0 Hm (proj1 Hx)) as [_ L].
    destruct (linfrac_mono A B C D x x1 Hm H1 (proj2 Hx)) as [_ U].
    specialize (L ltac:(lra)); specialize (U ltac:(lra)).
    split; [apply (Rle_trans _ _ _ (Rmin_r _ _) U) | apply (Rle_trans _ _ _ L (Rmax_l _ _))].
Qed.

(** ** The average as a function of one weight *)

Lemma sum_nonneg n (f : nat -> R) : (forall i, (i < n)%nat -> 0 <= f i) -> 0 <= sum n f.
Proof.
  induction n as [| n IH]; intros H; simpl; [lra |].
  assert (0 <= sum n f) by (apply IH; intros; apply H; lia).
  assert (0 <= f n) by (apply H; lia); lra.
Qed.

(** [w] with its weight at [j] replaced by [x]. *)
Definition upd (w : nat -> R) (j : nat) (x : R) (i : nat) : R := if Nat.eqb i j then x else w i.

Lemma sum_upd_mul n (w v : nat -> R) j x : (j < n)%nat ->
  sum n (fun i => upd w j x i * v i) = sum n (fun i => upd w j 0 i * v i) + x * v j.
Proof.
  induction n as [| n IH]; intros Hj; [lia |]; simpl.
  destruct (PeanoNat.Nat.eq_dec j n) as [E | E].
  - subst j; unfold upd at 2 4; rewrite PeanoNat.Nat.eqb_refl.
    assert (S : sum n (fun i => upd w n x i * v i) = sum n (fun i => upd w n 0 i * v i)).
    { apply sum_ext; intros i Hi; unfold upd.
      destruct (Nat.eqb i n) eqn:Q; [apply PeanoNat.Nat.eqb_eq in Q; lia | reflexivity]. }
    rewrite S; ring.
  - rewrite IH by lia; unfold upd at 2 4.
    destruct (Nat.eqb n j) eqn:Q; [apply PeanoNat.Nat.eqb_eq in Q; lia | ring].
Qed.

Lemma sum_upd n (w : nat -> R) j x : (j < n)%nat ->
  sum n (upd w j x) = sum n (upd w j 0) + x.
Proof.
  intros Hj.
  rewrite (sum_ext n (upd w j x) (fun i => upd w j x i * 1)) by (intros; ring).
  rewrite (sum_ext n (upd w j 0) (fun i => upd w j 0 i * 1)) by (intros; ring).
  rewrite sum_upd_mul by exact Hj; ring.
Qed.

(** With the weight [x] at position [j < n], the average is [(A + x v_j) / (C + x)], where [A] and
    [C] are the weighted sum and the total weight of the other positions: linear-fractional in [x]. *)
Theorem avg_one_weight n w v j x : (j < n)%nat ->
  avg n (upd w j x) v =
  linfrac (sum n (fun i => upd w j 0 i * v i)) (v j) (sum n (upd w j 0)) 1 x.
Proof.
  intros Hj; unfold avg, linfrac.
  rewrite (sum_upd n w j x Hj), (sum_upd_mul n w v j x Hj), Rmult_1_r; reflexivity.
Qed.

(** Hence, for positive weights at the other positions and [0 < x0 <= x <= x1], the average with
    weight [x] at [j] lies between the averages with the weights [x0] and [x1] there: the extremes
    over an interval of one (positional) weight are at its endpoints. *)
Theorem avg_weight_interval n w v j x0 x1 x : (j < n)%nat ->
  (forall i, (i < n)%nat -> i <> j -> 0 < w i) -> 0 < x0 -> x0 <= x <= x1 ->
  Rmin (avg n (upd w j x0) v) (avg n (upd w j x1) v) <= avg n (upd w j x) v
  <= Rmax (avg n (upd w j x0) v) (avg n (upd w j x1) v).
Proof.
  intros Hj Hw H0 Hx.
  assert (HC : 0 <= sum n (upd w j 0)).
  { apply sum_nonneg; intros i Hi; unfold upd.
    destruct (Nat.eqb i j) eqn:Q; [lra |].
    apply PeanoNat.Nat.eqb_neq in Q; left; apply Hw; assumption. }
  rewrite !avg_one_weight by exact Hj.
  apply linfrac_between; lra.
Qed.

(** ** Pessimisation: termwise bounds under nonnegative weights *)

(** If each term [d_i] is at most its bound [W_i] and the weights are nonnegative, the weighted sum
    is at most the weighted sum of the bounds (cubic.md (1): for each wrong output [j],
    [sum_i a_i d_i(j) <= sum_i a_i W(t_i)] where [W(t_i)] bounds [d_i(j)] for every [j]). *)
Theorem wsum_pessimise n (a dv W : nat -> R) :
  (forall i, (i < n)%nat -> 0 <= a i) -> (forall i, (i < n)%nat -> dv i <= W i) ->
  sum n (fun i => a i * dv i) <= sum n (fun i => a i * W i).
Proof.
  intros Ha Hd; apply sum_le; intros i Hi; apply Rmult_le_compat_l; [apply Ha | apply Hd]; exact Hi.
Qed.
