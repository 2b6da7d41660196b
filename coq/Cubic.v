(** * Cubic: a cubic-time check over classes (query [q], max [m], count [c]), and [cubic_sound].

    A coarser form of docs/proofs/cubic.md (the [direct_path = separate] style), chosen so that every
    step is a short lemma over Spec.v's model. For an input [t] with query [q = t_(K-1)] and max [m]:
    - the score of position [i] splits as [(SE(q, t_i) + SP(q, i)) / sqrt d_head] (token and position
      parts of the key), so the softmax weight is, up to one positive factor, [wE(q, t_i) * wP(q, i)]
      with [wE = exp ((SE - max SE) / sqrt d_head)], [wP] likewise, enclosed by floating-point
      (mantissa, exponent) bounds of [exp] ([exp_lof], [exp_hif]);
    - for a wrong output [j <> m] the logit difference is [sum_i a_i e_i(j)] ([margin_average]) and
      [e_i(j) >= cmin(q, m) + dep(m, t_i)] at a non-query position, [>= cmin(q, m) + dq(q, m)] at the
      query: minima over [j] of the direct path [CU] and of the value path [EOU + POU] (positions
      pooled by [pn], the worst non-query position);
    - [Pk(k) = wlow (wE(q, k)) E(k)] bounds [wE * e] from below and [wlow (wP(q, i)) Pk(k)] bounds the
      term of position [i]; [wlow] is non-decreasing in its second argument;
    - class [(q, m, c)] with threshold [tau = Pk(kappa)] ([kappa] a hint) and token set
      [P = {k < m : tau <= Pk(k)}]: the class is certified when, for every placement of the [K-1-c]
      copies of [m] among the non-query positions, [sum_i (A_i or B_i) + Qt > 0] with
      [A_i = wlow (wP i) (Pk m)], [B_i = wlow (wP i) tau]; so every input of the class is correct;
    - the certified classes are disjoint and hold [C(K-1, c) g^c] inputs each (Counting.v). *)
From Coq Require Import ZArith QArith Qreals Qround Reals List Lia Lra.
From CompactProofs Require Import Spec Lib ExpBounds BruteForce Counting.
Import ListNotations.

Definition d0 : D := (0, 0)%Z.
(** [dle a b] decides [a <= b] (the sign of [b - a]) *)
Definition dle (a b : D) : bool := Z.leb 0 (fst (dminus b a)).
Definition dmin2 (a b : D) : D := if dle a b then a else b.
Definition dmax2 (a b : D) : D := if dle a b then b else a.
Definition dminl (l : list D) : D := fold_right dmin2 (hd d0 l) l.
Definition dmaxl (l : list D) : D := fold_right dmax2 (hd d0 l) l.
(** rounding down to the grid [2^g] (numbers already coarser are kept) *)
Definition dfloor (g : Z) (a : D) : D :=
  if Z.leb (snd a) g then (Z.shiftr (fst a) (g - snd a), g) else a.
Definition dceil (g : Z) (a : D) : D :=
  if Z.leb (snd a) g then (- Z.shiftr (- fst a) (g - snd a), g)%Z else a.
(** for [lo <= w <= hi] and [E <= e] (with [w >= 0]): [wlow (lo, hi) E <= w e] *)
Definition wlow (w : D * D) (E : D) : D := if Z.leb 0 (fst E) then dmult (fst w) E else dmult (snd w) E.

(** floating-point squaring, keeping [p] bits, rounded down / up *)
Definition fshift (p : nat) (n : Z) : Z := Z.max 0 (Z.log2 n - Z.of_nat p).
Definition fsq_down (p : nat) (a : D) : D :=
  let n := (fst a * fst a)%Z in (Z.shiftr n (fshift p n), 2 * snd a + fshift p n)%Z.
Definition fsq_up (p : nat) (a : D) : D :=
  let n := (fst a * fst a)%Z in (- Z.shiftr (- n) (fshift p n), 2 * snd a + fshift p n)%Z.
Fixpoint iter {A} (n : nat) (f : A -> A) (a : A) : A := match n with O => a | S n' => iter n' f (f a) end.
(** bounds of [exp (-y)], [y >= 0], with relative precision: [u = y / 2^r], [1 - u <= exp (-u) <= 1/(1+u)]
    on the grid [2^-p], then [r] floating squarings *)
Definition exp_lof (p r : nat) (y : Q) : D :=
  let u := (y * (1 # pow2 r))%Q in
  if Qle_bool u 1 then iter r (fsq_down p) (Qnum (round_down (pow2 p) (1 - u)), - Z.of_nat p)%Z else d0.
Definition exp_hif (p r : nat) (y : Q) : D :=
  let u := (y * (1 # pow2 r))%Q in iter r (fsq_up p) (Qnum (round_up (pow2 p) (/ (1 + u))), - Z.of_nat p)%Z.

(** all boolean lists of length [n] (the placements of the max), and the number of [true]s *)
Fixpoint bools (n : nat) : list (list bool) :=
  match n with O => [[]] | S n' => flat_map (fun l => [true :: l; false :: l]) (bools n') end.
Definition ntrue (l : list bool) : nat := length (filter (fun b => b) l).

Definition grid {A} (n : nat) (f : nat -> A) : list A := map f (seq 0 n).
Definition at2 {A} (dft : A) (t : list (list A)) (a b : nat) : A := nth b (nth a t []) dft.
Definition at3 {A} (dft : A) (t : list (list (list A))) (a b c : nat) : A := nth c (nth b (nth a t []) []) dft.
Definition others (v m : nat) : list nat := filter (fun j => negb (Nat.eqb j m)) (seq 0 v).

Section Check.
Variable d : Data.
Variables p r : nat.
Local Notation V := (d_vocab d).
Local Notation K := (n_ctx d).
Local Notation n := (qp d).

(** [x] of token [k] at position [i]; the query vector of query token [q]; the token and position
    parts of the key and of the value path [value W_O] *)
Definition xk (k i : nat) (a : nat) : D := dplus (dentry (W_E d) k a) (dentry (W_pos d) i a).
Definition qvec (q : nat) : list D := vec (d_head d) (affine d (W_Q d) (b_Q d) (xk q n)).
Definition lin (w : Tensor) (k : nat) (h : nat) : D := dsum (d_model d) (fun a => dmult (dentry (W_E d) k a) (dentry w a h)).
Definition ekvec (k : nat) : list D := vec (d_head d) (lin (W_K d) k).
Definition pkvec (i : nat) : list D := vec (d_head d) (affine d (W_K d) (b_K d) (dentry (W_pos d) i)).
Definition eovec (k : nat) : list D := vec (d_model d) (dov d (rd (vec (d_head d) (lin (W_V d) k)))).
Definition povec (i : nat) : list D :=
  vec (d_model d) (dov d (rd (vec (d_head d) (affine d (W_V d) (b_V d) (dentry (W_pos d) i))))).
(** a value path [ov] to logit [j]; the direct path of the query token [q] to logit [j] *)
Definition ovu (ov : list D) (j : nat) : D := dsum (d_model d) (fun a => dmult (rd ov a) (dentry (W_U d) a j)).
Definition cu (q j : nat) : D :=
  dplus (dsum (d_model d) (fun a => dmult (dplus (xk q n a) (dentry (b_O d) 0 a)) (dentry (W_U d) a j)))
        (dentry (b_U d) 0 j).
(** enclosure of [exp ((s - smax) / sqrt d_head)] ([smax - s] rounded outward to the grid [2^-p] first) *)
Definition wbounds (smax s : D) : D * D :=
  let dl := dminus smax s in
  (exp_lof p r (D2Q (dceil (- Z.of_nat p) dl) / sqrt_lo p (d_head d)),
   exp_hif p r (D2Q (dfloor (- Z.of_nat p) dl) / sqrt_hi p (d_head d))).
(** the least margin [row m - row j] over wrong outputs [j <> m] *)
Definition mindiff (row : list D) (m : nat) : D := dminl (map (fun j => dminus (rd row m) (rd row j)) (others V m)).
Definition pair_mul (a b : D * D) : D * D := (dmult (fst a) (fst b), dmult (snd a) (snd b)).

(** The placement test of a class: for every placement [s] of the [n - c] copies of [m] among the
    [n] non-query positions, [sum_i (A_i if s_i else B_i) + Qt > 0]. *)
Definition place_ok (A B : nat -> D) (Qt : D) (c : nat) : bool :=
  forallb (fun s => Z.ltb 0 (fst (dplus (dsum n (fun i => if nth i s false then A i else B i)) Qt)))
          (filter (fun s => Nat.eqb (ntrue s) (n - c)) (bools n)).
(** class [(q, m, c)] from the per-token figures [pk], the position weights [wp], the query term [Qt]
    and the hint [kappa]: (certified, the bits of [P]) *)
Definition class_of (pk : list D) (wp : list (D * D)) (Qt : D) (q m c kappa : nat) : bool * list bool :=
  let tau := rd pk kappa in
  let A := fun i => wlow (nth i wp (d0, d0)) (rd pk m) in
  let B := fun i => wlow (nth i wp (d0, d0)) tau in
  ((Nat.leb q m && (Nat.eqb q m || Nat.ltb c n) && place_ok A B Qt c)%bool,
   grid V (fun k => Nat.ltb k m && dle tau (rd pk k))).

Definition Hints : Type := list (list (list nat)).

(** Every table is computed once ([let]). [info] at [(q, m, c)]: (certified, the bits of [P]). *)
Definition cubic_info (hints : Hints) : list (list (list (bool * list bool))) :=
  let qvt := grid V qvec in
  let ekt := grid V ekvec in
  let pkt := grid K pkvec in
  let set := grid V (fun q => grid V (fun k => dot (d_head d) (rd (nth q qvt [])) (rd (nth k ekt [])))) in
  let spt := grid V (fun q => grid K (fun i => dot (d_head d) (rd (nth q qvt [])) (rd (nth i pkt [])))) in
  let wet := grid V (fun q => let row := nth q set [] in let mx := dmaxl row in grid V (fun k => wbounds mx (rd row k))) in
  let wpt := grid V (fun q => let row := nth q spt [] in let mx := dmaxl row in grid K (fun i => wbounds mx (rd row i))) in
  let cut := grid V (fun q => grid V (cu q)) in
  let eout := grid V (fun k => grid V (ovu (eovec k))) in
  let pout := grid K (fun i => grid V (ovu (povec i))) in
  let pnt := grid V (fun m => grid V (fun j =>
               dminl (map (fun i => dminus (at2 d0 pout i m) (at2 d0 pout i j)) (seq 0 n)))) in
  let dept := grid V (fun m => grid V (fun k =>
               dminl (map (fun j => dplus (dminus (at2 d0 eout k m) (at2 d0 eout k j)) (at2 d0 pnt m j)) (others V m)))) in
  grid V (fun q => grid V (fun m =>
    let cm := mindiff (nth q cut []) m in
    let we := nth q wet [] in
    let wp := nth q wpt [] in
    let pk := grid V (fun k => wlow (nth k we (d0, d0)) (dfloor (- Z.of_nat p) (dplus cm (at2 d0 dept m k)))) in
    let dq := dminl (map (fun j => dplus (dminus (at2 d0 eout q m) (at2 d0 eout q j))
                                         (dminus (at2 d0 pout n m) (at2 d0 pout n j))) (others V m)) in
    let Qt := wlow (nth n wp (d0, d0)) (wlow (nth q we (d0, d0)) (dfloor (- Z.of_nat p) (dplus cm dq))) in
    grid K (fun c => class_of pk wp Qt q m c (at3 O hints q m c)))).

Definition triples : list (nat * nat * nat) :=
  flat_map (fun q => flat_map (fun m => map (fun c => (q, m, c)) (seq 0 K)) (seq 0 V)) (seq 0 V).
Definition zcount (info : list (list (list (bool * list bool)))) : Z :=
  fold_right (fun '(q, m, c) acc => let cl := at3 (false, []) info q m c in
               if fst cl then (Z.of_nat (binom n c) * Z.of_nat (g V (fun k => nth k (snd cl) false)) ^ Z.of_nat c + acc)%Z
               else acc) 0%Z triples.

(** The check: [claim <= zcount / d_vocab ^ n_ctx] on a model with [n_ctx, d_head >= 1]. *)
Definition cubic_check (hints : Hints) : bool :=
  (1 <=? K)%nat && (1 <=? d_head d)%nat && (0 <? claim_den d)%Z &&
  (claim_num d * Z.of_nat V ^ Z.of_nat K <=? zcount (cubic_info hints) * claim_den d)%Z.

End Check.

(** ** Soundness *)
Local Open Scope R_scope.

(** *** Dyadic comparisons, minima, rounding *)
Lemma dle_spec a b : dle a b = true <-> D2R a <= D2R b.
Proof.
  unfold dle; rewrite Z.leb_le, D2R_sign, D2R_dminus; split; intros; lra.
Qed.
Lemma dle_false a b : dle a b = false -> D2R b < D2R a.
Proof.
  intros H; destruct (Rlt_le_dec (D2R b) (D2R a)) as [L | L]; [exact L |].
  apply dle_spec in L; congruence.
Qed.

Lemma dmin2_le a b : D2R (dmin2 a b) <= D2R a /\ D2R (dmin2 a b) <= D2R b.
Proof.
  unfold dmin2; destruct (dle a b) eqn:E; [apply dle_spec in E | apply dle_false in E]; lra.
Qed.
Lemma dmax2_ge a b : D2R a <= D2R (dmax2 a b) /\ D2R b <= D2R (dmax2 a b).
Proof.
  unfold dmax2; destruct (dle a b) eqn:E; [apply dle_spec in E | apply dle_false in E]; lra.
Qed.
Lemma dminl_le l a : In a l -> D2R (dminl l) <= D2R a.
Proof.
  unfold dminl; generalize (hd d0 l); intros init.
  induction l as [| b l IH]; simpl; [tauto |]; intros [E | H].
  - subst; apply dmin2_le.
  - eapply Rle_trans; [apply dmin2_le | apply IH, H].
Qed.
Lemma dmaxl_ge l a : In a l -> D2R a <= D2R (dmaxl l).
Proof.
  unfold dmaxl; generalize (hd d0 l); intros init.
  induction l as [| b l IH]; simpl; [tauto |]; intros [E | H].
  - subst; apply dmax2_ge.
  - eapply Rle_trans; [apply IH, H | apply dmax2_ge].
Qed.

Lemma IZR_pow2Z k : (0 <= k)%Z -> IZR (2 ^ k) = powerRZ 2 k.
Proof. intros H; rewrite <- (Z2Nat.id k H), <- pow_IZR, pow_powerRZ; reflexivity. Qed.

Lemma dshr_down m e s : (0 <= s)%Z -> D2R (Z.shiftr m s, e + s)%Z <= D2R (m, e).
Proof.
  intros Hs; unfold D2R; simpl; rewrite Z.shiftr_div_pow2 by exact Hs.
  assert (Hk : (0 < 2 ^ s)%Z) by (apply Z.pow_pos_nonneg; lia).
  assert (H1 : (2 ^ s * (m / 2 ^ s) <= m)%Z) by (apply Z.mul_div_le; lia).
  apply IZR_le in H1; rewrite mult_IZR, IZR_pow2Z in H1 by exact Hs.
  rewrite powerRZ_add by lra; pose proof (powerRZ_lt 2 e ltac:(lra)); nra.
Qed.
Lemma dshr_up m e s : (0 <= s)%Z -> D2R (m, e) <= D2R (- Z.shiftr (- m) s, e + s)%Z.
Proof.
  intros Hs; unfold D2R; simpl; rewrite Z.shiftr_div_pow2 by exact Hs.
  assert (Hk : (0 < 2 ^ s)%Z) by (apply Z.pow_pos_nonneg; lia).
  assert (H1 : (2 ^ s * (- m / 2 ^ s) <= - m)%Z) by (apply Z.mul_div_le; lia).
  apply IZR_le in H1; rewrite mult_IZR, IZR_pow2Z, opp_IZR in H1 by exact Hs.
  rewrite opp_IZR, powerRZ_add by lra; pose proof (powerRZ_lt 2 e ltac:(lra)); nra.
Qed.
Lemma dshr_nonneg m s : (0 <= m)%Z -> (0 <= s)%Z -> (0 <= Z.shiftr m s)%Z.
Proof. intros; rewrite Z.shiftr_nonneg; lia. Qed.

Lemma dfloor_le g a : D2R (dfloor g a) <= D2R a.
Proof.
  destruct a as [m e]; unfold dfloor; simpl; destruct (Z.leb_spec e g); [| lra].
  replace (Z.shiftr m (g - e), g) with (Z.shiftr m (g - e), e + (g - e))%Z by (f_equal; lia).
  apply dshr_down; lia.
Qed.
Lemma dceil_ge g a : D2R a <= D2R (dceil g a).
Proof.
  destruct a as [m e]; unfold dceil; simpl; destruct (Z.leb_spec e g); [| lra].
  replace (- Z.shiftr (- m) (g - e), g)%Z with (- Z.shiftr (- m) (g - e), e + (g - e))%Z by (f_equal; lia).
  apply dshr_up; lia.
Qed.
Lemma dfloor_nonneg g a : 0 <= D2R a -> 0 <= D2R (dfloor g a).
Proof.
  destruct a as [m e]; unfold dfloor; simpl; destruct (Z.leb_spec e g) as [L | L]; [| lra].
  intros H0; apply D2R_sign in H0; simpl in H0; apply D2R_sign; simpl; apply dshr_nonneg; lia.
Qed.

(** *** The weighted term bound *)
Lemma wlow_le (w : D * D) E a e : D2R (fst w) <= a <= D2R (snd w) -> 0 <= a -> D2R E <= e ->
  D2R (wlow w E) <= a * e.
Proof.
  intros [H1 H2] Ha He; unfold wlow; destruct (Z.leb 0 (fst E)) eqn:S; rewrite D2R_dmult.
  - apply Z.leb_le, D2R_sign in S; nra.
  - assert (~ 0 <= D2R E) by (rewrite <- D2R_sign; apply Z.leb_nle, S); nra.
Qed.
Lemma wlow_mono (w : D * D) P P' : 0 <= D2R (fst w) <= D2R (snd w) -> D2R P <= D2R P' ->
  D2R (wlow w P) <= D2R (wlow w P').
Proof.
  intros [H1 H2] HP; unfold wlow.
  destruct (Z.leb 0 (fst P)) eqn:S; destruct (Z.leb 0 (fst P')) eqn:S'; rewrite !D2R_dmult.
  - apply Z.leb_le, D2R_sign in S; nra.
  - apply Z.leb_le, D2R_sign in S; assert (~ 0 <= D2R P') by (rewrite <- D2R_sign; apply Z.leb_nle, S'); lra.
  - apply Z.leb_le, D2R_sign in S'; assert (~ 0 <= D2R P) by (rewrite <- D2R_sign; apply Z.leb_nle, S); nra.
  - assert (~ 0 <= D2R P) by (rewrite <- D2R_sign; apply Z.leb_nle, S); nra.
Qed.

(** *** Floating exp bounds *)
Lemma D2R_sq m e : D2R (m * m, 2 * e)%Z = D2R (m, e) * D2R (m, e).
Proof.
  unfold D2R; cbn [fst snd]; rewrite mult_IZR; replace (2 * e)%Z with (e + e)%Z by lia.
  rewrite powerRZ_add by lra; ring.
Qed.
Lemma fsq_down_spec p a : 0 <= D2R a ->
  0 <= D2R (fsq_down p a) /\ D2R (fsq_down p a) <= D2R a * D2R a.
Proof.
  destruct a as [m e]; intros _; unfold fsq_down; cbn [fst snd].
  assert (Hs : (0 <= fshift p (m * m))%Z) by (unfold fshift; lia).
  split.
  - apply D2R_sign; cbn [fst]; apply dshr_nonneg; [nia | exact Hs].
  - rewrite <- D2R_sq; apply dshr_down, Hs.
Qed.
Lemma fsq_up_spec p a : D2R a * D2R a <= D2R (fsq_up p a).
Proof.
  destruct a as [m e]; unfold fsq_up; cbn [fst snd].
  assert (Hs : (0 <= fshift p (m * m))%Z) by (unfold fshift; lia).
  rewrite <- D2R_sq; apply dshr_up, Hs.
Qed.

Lemma iter_down_spec p r : forall a z, 0 <= D2R a -> D2R a <= exp (- z) ->
  0 <= D2R (iter r (fsq_down p) a) /\ D2R (iter r (fsq_down p) a) <= exp (- (2 ^ r * z)).
Proof.
  induction r as [| r IH]; intros a z H0 H1; simpl.
  - rewrite Rmult_1_l; split; assumption.
  - replace (2 * 2 ^ r * z) with (2 ^ r * (2 * z)) by ring.
    destruct (fsq_down_spec p a H0) as [S0 S1].
    apply IH; [exact S0 |].
    replace (- (2 * z)) with (- z + - z) by ring; rewrite exp_plus.
    apply Rle_trans with (D2R a * D2R a); [exact S1 | apply Rmult_le_compat; lra].
Qed.
Lemma iter_up_spec p r : forall a z, exp (- z) <= D2R a ->
  exp (- (2 ^ r * z)) <= D2R (iter r (fsq_up p) a).
Proof.
  induction r as [| r IH]; intros a z H; simpl.
  - rewrite Rmult_1_l; exact H.
  - replace (2 * 2 ^ r * z) with (2 ^ r * (2 * z)) by ring.
    apply IH; pose proof (fsq_up_spec p a); pose proof (exp_pos (- z)).
    replace (- (2 * z)) with (- z + - z) by ring; rewrite exp_plus.
    apply Rle_trans with (D2R a * D2R a); [apply Rmult_le_compat; lra | assumption].
Qed.

Lemma D2R_gridp z p : D2R (z, - Z.of_nat p)%Z = IZR z / 2 ^ p.
Proof. rewrite D2R_grid, Q2R_grid; reflexivity. Qed.

Theorem exp_lof_spec p r y : 0 <= Q2R y ->
  0 <= D2R (exp_lof p r y) /\ D2R (exp_lof p r y) <= exp (- Q2R y).
Proof.
  intros Hy; unfold exp_lof; set (u := (y * (1 # pow2 r))%Q).
  assert (Hu : Q2R u * 2 ^ r = Q2R y) by apply Q2R_scale_down.
  destruct (Qle_bool u 1) eqn:E.
  - apply Qle_bool_iff, Qle_Rle in E; rewrite Q2R_1 in E.
    set (a := round_down (pow2 p) (1 - u)).
    assert (Ha0 : 0 <= Q2R a) by (apply round_down_nonneg; rewrite Q2R_minus, Q2R_1; lra).
    assert (Ha1 : Q2R a <= exp (- Q2R u)).
    { eapply Rle_trans; [apply round_down_le |]; rewrite Q2R_minus, Q2R_1.
      pose proof (exp_ineq1_le (- Q2R u)); lra. }
    assert (Ea : Q2R a = D2R (Qnum a, - Z.of_nat p)%Z) by (rewrite D2R_gridp; unfold a, round_down; apply Q2R_grid).
    rewrite <- Hu, Rmult_comm; apply iter_down_spec; rewrite <- Ea; assumption.
  - unfold D2R; simpl; rewrite Rmult_0_l; split; [lra | left; apply exp_pos].
Qed.

Theorem exp_hif_spec p r y : 0 <= Q2R y -> exp (- Q2R y) <= D2R (exp_hif p r y).
Proof.
  intros Hy; unfold exp_hif; set (u := (y * (1 # pow2 r))%Q).
  assert (Hu : Q2R u * 2 ^ r = Q2R y) by apply Q2R_scale_down.
  assert (Hu0 : 0 <= Q2R u).
  { apply Rmult_le_reg_r with (2 ^ r); [apply pow_lt; lra | lra]. }
  rewrite <- Hu, Rmult_comm; apply iter_up_spec.
  set (a := round_up (pow2 p) (/ (1 + u))).
  assert (Ea : Q2R a = D2R (Qnum a, - Z.of_nat p)%Z) by (rewrite D2R_gridp; unfold a, round_up; apply Q2R_grid).
  rewrite <- Ea; eapply Rle_trans; [| apply round_up_ge].
  assert (Hne : ~ (1 + u == 0)%Q).
  { intros Z; apply Qeq_eqR in Z; rewrite Q2R_plus, Q2R_1, Q2R_0 in Z; lra. }
  rewrite Q2R_inv, Q2R_plus, Q2R_1 by exact Hne.
  rewrite exp_Ropp; apply Rinv_le_contravar; [lra | apply exp_ineq1_le].
Qed.

(** *** Tables as sums over Spec.v's model *)
Lemma nth_grid {A} n (f : nat -> A) i dft : (i < n)%nat -> nth i (grid n f) dft = f i.
Proof. apply nth_map_seq. Qed.
Lemma rd_vec n f i : (i < n)%nat -> rd (vec n f) i = f i.
Proof. apply nth_map_seq. Qed.
Lemma in_others v m j : In j (others v m) <-> (j < v)%nat /\ j <> m.
Proof.
  unfold others; rewrite filter_in_iff || idtac; rewrite filter_In, in_seq.
  rewrite Bool.negb_true_iff, PeanoNat.Nat.eqb_neq; lia.
Qed.

Ltac dlin := repeat first [rewrite D2R_dplus | rewrite D2R_dminus | rewrite D2R_dmult | rewrite D2R_dsum
                          | rewrite D2R_dentry].

Section Links.
Variable d : Data.
Local Notation M := (model_of d).
Local Notation V := (d_vocab d).
Local Notation K := (n_ctx d).
Local Notation n := (qp d).

Lemma D2R_xk k i a : D2R (xk d k i a) = WE M k a + Wpos M i a.
Proof. unfold xk; dlin; reflexivity. Qed.

Lemma Rep_qvec t : Rep (rd (qvec d (tok t n))) (query M t) (d_head d).
Proof.
  unfold qvec; apply Rep_vec; intros h _; rewrite (D2R_affine d _ _ _ (x M t n)); [reflexivity |].
  intros a _; rewrite D2R_xk; reflexivity.
Qed.

(** an affine map of [x] splits into its token part ([lin]) and its position part *)
Lemma affine_split t i (w b : Tensor) h :
  sum (d_model d) (fun a => x M t i a * entry w a h) + entry b 0 h =
  D2R (lin d w (tok t i) h) + D2R (affine d w b (dentry (W_pos d) i) h).
Proof.
  unfold lin; rewrite (D2R_affine d _ _ _ (entry (W_pos d) i)) by (intros a _; reflexivity).
  dlin; rewrite <- Rplus_assoc, <- sum_plus; f_equal; apply sum_ext; intros a _; dlin.
  unfold x; simpl; ring.
Qed.

Definition SEf (q k : nat) : D := dot (d_head d) (rd (qvec d q)) (rd (ekvec d k)).
Definition SPf (q i : nat) : D := dot (d_head d) (rd (qvec d q)) (rd (pkvec d i)).

Lemma score_split t i :
  sum (d_head d) (fun h => query M t h * key M t i h) = D2R (SEf (tok t n) (tok t i)) + D2R (SPf (tok t n) i).
Proof.
  unfold SEf, SPf.
  rewrite (D2R_dot _ _ _ (query M t) (fun h => D2R (rd (ekvec d (tok t i)) h))) by (apply Rep_qvec || (intros h _; reflexivity)).
  rewrite (D2R_dot _ _ _ (query M t) (fun h => D2R (rd (pkvec d i) h))) by (apply Rep_qvec || (intros h _; reflexivity)).
  rewrite <- sum_plus; apply sum_ext; intros h Hh; unfold ekvec, pkvec; rewrite !rd_vec by exact Hh.
  rewrite <- Rmult_plus_distr_l, <- affine_split; reflexivity.
Qed.

Lemma ovr_split t i a : (a < d_model d)%nat ->
  ovr M t i a = D2R (rd (eovec d (tok t i)) a) + D2R (rd (povec d i) a).
Proof.
  intros Ha; unfold eovec, povec; rewrite !rd_vec by exact Ha; unfold dov, ovr; dlin.
  rewrite <- sum_plus; apply sum_ext; intros h Hh; dlin; rewrite !rd_vec by exact Hh.
  rewrite <- Rmult_plus_distr_r, <- affine_split; reflexivity.
Qed.

Lemma D2R_ovu ov j : D2R (ovu d ov j) = sum (d_model d) (fun a => D2R (rd ov a) * WU M a j).
Proof. unfold ovu; dlin; apply sum_ext; intros; dlin; reflexivity. Qed.

Definition EOU (k j : nat) : D := ovu d (eovec d k) j.
Definition POU (i j : nat) : D := ovu d (povec d i) j.

Lemma Dr_split t m j i :
  Dr M t m j i = (D2R (EOU (tok t i) m) - D2R (EOU (tok t i) j)) + (D2R (POU i m) - D2R (POU i j)).
Proof.
  unfold Dr, Ur, EOU, POU; rewrite !D2R_ovu, <- !sum_minus, <- sum_plus.
  apply sum_ext; intros a Ha; rewrite ovr_split by exact Ha; simpl; ring.
Qed.

Lemma Cr_split t m j : Cr M t m j = D2R (cu d (tok t n) m) - D2R (cu d (tok t n) j).
Proof.
  unfold Cr, Ur, cu; dlin.
  match goal with |- _ = (?A + ?B) - (?C + ?E) => replace ((A + B) - (C + E)) with ((A - C) + (B - E)) by ring end.
  rewrite <- sum_minus; f_equal.
  apply sum_ext; intros a _; dlin; rewrite D2R_xk; change (qpos M) with n; unfold x; cbn [model_of WE Wpos WU bO bU]; ring.
Qed.
End Links.
