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
(** bounds below [2^-fmin_exp] are replaced by [0] (lower) or [2^-fmin_exp] (upper), so that no later sum
    aligns numbers millions of bits apart *)
Definition fmin_exp : Z := 4096.
Definition ftiny (a : D) : bool := Z.ltb (snd a + Z.log2 (fst a) + 1) (- fmin_exp).
Definition fclamp_down (a : D) : D := if ftiny a then d0 else a.
Definition fclamp_up (a : D) : D := if ftiny a then (1, - fmin_exp)%Z else a.
(** bounds of [exp (-y)], [y >= 0], with relative precision: [u = y / 2^r], [1 - u <= exp (-u) <= 1/(1+u)]
    on the grid [2^-p], then [r] floating squarings *)
Definition exp_lof (p r : nat) (y : Q) : D :=
  let u := (y * (1 # pow2 r))%Q in
  if Qle_bool u 1 then fclamp_down (iter r (fsq_down p) (Qnum (round_down (pow2 p) (1 - u)), - Z.of_nat p)%Z)
  else d0.
Definition exp_hif (p r : nat) (y : Q) : D :=
  let u := (y * (1 # pow2 r))%Q in fclamp_up (iter r (fsq_up p) (Qnum (round_up (pow2 p) (/ (1 + u))), - Z.of_nat p)%Z).

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
  let ok := if (Nat.leb q m && (Nat.eqb q m || Nat.ltb c n))%bool then place_ok A B Qt c else false in
  (ok, if ok then grid V (fun k => if Nat.ltb k m then dle tau (rd pk k) else false) else []).

(** The tables, each a list (of lists) computed once by [cubic_info] ([let]). *)
Definition qvt_t : list (list D) := grid V qvec.
Definition ekt_t : list (list D) := grid V ekvec.
Definition pkt_t : list (list D) := grid K pkvec.
(** the scores [SE(q, k)] (token part) and [SP(q, i)] (position part), times [sqrt d_head] *)
Definition set_t (qvt ekt : list (list D)) : list (list D) :=
  grid V (fun q => grid V (fun k => dot (d_head d) (rd (nth q qvt [])) (rd (nth k ekt [])))).
Definition spt_t (qvt pkt : list (list D)) : list (list D) :=
  grid V (fun q => grid K (fun i => dot (d_head d) (rd (nth q qvt [])) (rd (nth i pkt [])))).
(** the softmax factors of one row of scores, relative to the row's largest *)
Definition wt_t (st : list (list D)) (len : nat) : list (list (D * D)) :=
  grid V (fun q => let row := nth q st [] in let mx := dmaxl row in grid len (fun k => wbounds mx (rd row k))).
Definition cut_t : list (list D) := grid V (fun q => grid V (cu q)).
Definition eout_t : list (list D) := grid V (fun k => grid V (ovu (eovec k))).
Definition pout_t : list (list D) := grid K (fun i => grid V (ovu (povec i))).
(** [pn(m, j)]: the worst non-query position's margin change; [dep(m, k)]: the least value-path margin
    of token [k] at a non-query position, over wrong outputs *)
Definition pnt_t (pout : list (list D)) : list (list D) :=
  grid V (fun m => grid V (fun j => dminl (map (fun i => dminus (at2 d0 pout i m) (at2 d0 pout i j)) (seq 0 n)))).
Definition dept_t (eout pnt : list (list D)) : list (list D) :=
  grid V (fun m => grid V (fun k =>
    dminl (map (fun j => dplus (dminus (at2 d0 eout k m) (at2 d0 eout k j)) (at2 d0 pnt m j)) (others V m)))).

Definition Hints : Type := list (list (list nat)).

(** the classes [(q, m, c)] of one [(q, m)]: [pk] holds [Pk(k)], [Qt] the query term *)
Definition qm_info (cut : list (list D)) (wet wpt : list (list (D * D))) (eout pout dept : list (list D))
    (hints : Hints) (q m : nat) : list (bool * list bool) :=
  let cm := mindiff (nth q cut []) m in
  let we := nth q wet [] in
  let wp := nth q wpt [] in
  let pk := grid V (fun k => wlow (nth k we (d0, d0)) (dfloor (- Z.of_nat p) (dplus cm (at2 d0 dept m k)))) in
  let dq := dminl (map (fun j => dplus (dminus (at2 d0 eout q m) (at2 d0 eout q j))
                                       (dminus (at2 d0 pout n m) (at2 d0 pout n j))) (others V m)) in
  let Qt := wlow (nth n wp (d0, d0)) (wlow (nth q we (d0, d0)) (dfloor (- Z.of_nat p) (dplus cm dq))) in
  grid K (fun c => class_of pk wp Qt q m c (at3 O hints q m c)).

(** [info] at [(q, m, c)]: (certified, the bits of [P]). *)
Definition cubic_info (hints : Hints) : list (list (list (bool * list bool))) :=
  let qvt := qvt_t in let ekt := ekt_t in let pkt := pkt_t in
  let set := set_t qvt ekt in let spt := spt_t qvt pkt in
  let wet := wt_t set V in let wpt := wt_t spt K in
  let cut := cut_t in let eout := eout_t in let pout := pout_t in
  let pnt := pnt_t pout in let dept := dept_t eout pnt in
  grid V (fun q => grid V (fun m => if Nat.leb q m then qm_info cut wet wpt eout pout dept hints q m else [])).

Definition triples : list (nat * nat * nat) :=
  flat_map (fun q => flat_map (fun m => map (fun c => (q, m, c)) (seq 0 K)) (seq 0 V)) (seq 0 V).
Definition zcount (info : list (list (list (bool * list bool)))) : Z :=
  fold_right (fun '(q, m, c) acc => let cl := at3 (false, []) info q m c in
               if fst cl then (Z.of_nat (binom n c) * Z.of_nat (g V (fun k => nth k (snd cl) false)) ^ Z.of_nat c + acc)%Z
               else acc) 0%Z triples.

(** The check: [claim <= zcount / d_vocab ^ n_ctx] on a model with [d_vocab, n_ctx, d_head >= 1]. *)
Definition cubic_check (hints : Hints) : bool :=
  (1 <=? V)%nat && (1 <=? K)%nat && (1 <=? d_head d)%nat && (0 <? claim_den d)%Z &&
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

Lemma fclamp_down_spec a : 0 <= D2R a -> 0 <= D2R (fclamp_down a) /\ D2R (fclamp_down a) <= D2R a.
Proof. unfold fclamp_down; destruct (ftiny a); unfold D2R; simpl; [split; lra | lra]. Qed.
Lemma fclamp_up_spec a : D2R a <= D2R (fclamp_up a).
Proof.
  unfold fclamp_up, ftiny; destruct a as [m e]; cbn [fst snd].
  destruct (Z.ltb_spec (e + Z.log2 m + 1) (- fmin_exp)) as [L | L]; [| lra].
  unfold D2R; cbn [fst snd]; rewrite Rmult_1_l.
  destruct (Z.le_gt_cases m 0) as [Hm | Hm].
  - apply Rle_trans with 0; [| apply powerRZ_le; lra].
    pose proof (powerRZ_lt 2 e ltac:(lra)); apply IZR_le in Hm; nra.
  - destruct (Z.log2_spec m Hm) as [_ H2]; pose proof (Z.log2_nonneg m) as H0.
    rewrite Z.pow_succ_r in H2 by exact H0.
    assert (H3 : (m <= 2 ^ (Z.log2 m + 1))%Z) by (rewrite Z.pow_add_r by lia; lia).
    apply IZR_le in H3; rewrite IZR_pow2Z in H3 by lia.
    pose proof (powerRZ_lt 2 e ltac:(lra)) as He.
    replace (- fmin_exp)%Z with ((Z.log2 m + 1 + e) + (- fmin_exp - (Z.log2 m + 1 + e)))%Z by lia.
    rewrite powerRZ_add, powerRZ_add by lra.
    assert (Hk : 1 <= powerRZ 2 (- fmin_exp - (Z.log2 m + 1 + e))).
    { rewrite <- IZR_pow2Z by lia; apply IZR_le.
      assert (0 < 2 ^ (- fmin_exp - (Z.log2 m + 1 + e)))%Z by (apply Z.pow_pos_nonneg; lia); lia. }
    pose proof (powerRZ_lt 2 (Z.log2 m + 1) ltac:(lra)) as HL.
    apply Rle_trans with (powerRZ 2 (Z.log2 m + 1) * powerRZ 2 e); [apply Rmult_le_compat_r; lra |].
    rewrite <- (Rmult_1_r (powerRZ 2 (Z.log2 m + 1) * powerRZ 2 e)) at 1.
    apply Rmult_le_compat_l; [left; apply Rmult_lt_0_compat; assumption | exact Hk].
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
    rewrite <- Hu, Rmult_comm.
    destruct (iter_down_spec p r (Qnum a, - Z.of_nat p)%Z (Q2R u)) as [I0 I1]; [rewrite <- Ea; assumption.. |].
    destruct (fclamp_down_spec _ I0); split; lra.
  - unfold D2R; simpl; rewrite Rmult_0_l; split; [lra | left; apply exp_pos].
Qed.

Theorem exp_hif_spec p r y : 0 <= Q2R y -> exp (- Q2R y) <= D2R (exp_hif p r y).
Proof.
  intros Hy; unfold exp_hif; set (u := (y * (1 # pow2 r))%Q).
  assert (Hu : Q2R u * 2 ^ r = Q2R y) by apply Q2R_scale_down.
  assert (Hu0 : 0 <= Q2R u).
  { apply Rmult_le_reg_r with (2 ^ r); [apply pow_lt; lra | lra]. }
  rewrite <- Hu, Rmult_comm; eapply Rle_trans; [apply iter_up_spec | apply fclamp_up_spec].
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
  unfold others; rewrite filter_In, in_seq.
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

Lemma wbounds_spec d p r smax s : (1 <= d_head d)%nat -> D2R s <= D2R smax ->
  0 <= D2R (fst (wbounds d p r smax s)) /\
  D2R (fst (wbounds d p r smax s)) <= exp ((D2R s - D2R smax) / sqrt (INR (d_head d)))
  <= D2R (snd (wbounds d p r smax s)).
Proof.
  intros HD Hs; unfold wbounds; cbn [fst snd].
  set (sq := sqrt (INR (d_head d))).
  set (dl := dminus smax s).
  assert (Hdl : D2R dl = D2R smax - D2R s) by (unfold dl; apply D2R_dminus).
  assert (Hsq : Q2R (sqrt_lo p (d_head d)) <= sq <= Q2R (sqrt_hi p (d_head d))) by apply sqrt_bounds.
  assert (Hsq0 : 0 < Q2R (sqrt_lo p (d_head d))) by (apply sqrt_lo_pos; exact HD).
  assert (Hlo : ~ (sqrt_lo p (d_head d) == 0)%Q) by (intros E; apply Qeq_eqR in E; rewrite Q2R_0 in E; lra).
  assert (Hhi : ~ (sqrt_hi p (d_head d) == 0)%Q) by (intros E; apply Qeq_eqR in E; rewrite Q2R_0 in E; lra).
  assert (Ec := dceil_ge (- Z.of_nat p) dl).
  assert (Ef := dfloor_le (- Z.of_nat p) dl).
  assert (Ef0 : 0 <= D2R (dfloor (- Z.of_nat p) dl)) by (apply dfloor_nonneg; lra).
  assert (Earg : (D2R s - D2R smax) / sq = - (D2R dl / sq)) by (rewrite Hdl; field; lra).
  rewrite Earg.
  assert (Hy1 : Q2R (D2Q (dceil (- Z.of_nat p) dl) / sqrt_lo p (d_head d))
                = D2R (dceil (- Z.of_nat p) dl) / Q2R (sqrt_lo p (d_head d)))
    by (rewrite Q2R_div, Q2R_D2Q by exact Hlo; reflexivity).
  assert (Hy2 : Q2R (D2Q (dfloor (- Z.of_nat p) dl) / sqrt_hi p (d_head d))
                = D2R (dfloor (- Z.of_nat p) dl) / Q2R (sqrt_hi p (d_head d)))
    by (rewrite Q2R_div, Q2R_D2Q by exact Hhi; reflexivity).
  destruct (exp_lof_spec p r (D2Q (dceil (- Z.of_nat p) dl) / sqrt_lo p (d_head d))) as [L0 L1];
    [rewrite Hy1; apply div_nonneg; lra |].
  assert (U := exp_hif_spec p r (D2Q (dfloor (- Z.of_nat p) dl) / sqrt_hi p (d_head d))).
  split; [exact L0 | split].
  - eapply Rle_trans; [exact L1 |]; apply exp_mono, Ropp_le_contravar; rewrite Hy1.
    apply Rle_trans with (D2R dl / Q2R (sqrt_lo p (d_head d))); [apply div_mono; lra |].
    unfold Rdiv; apply Rmult_le_compat_r; [left; apply Rinv_0_lt_compat; lra | lra].
  - eapply Rle_trans; [| apply U; rewrite Hy2; apply div_nonneg; lra].
    apply exp_mono, Ropp_le_contravar; rewrite Hy2.
    apply Rle_trans with (D2R (dfloor (- Z.of_nat p) dl) / sq); [apply div_mono; lra |].
    unfold Rdiv; apply Rmult_le_compat_r; [left; apply Rinv_0_lt_compat; lra | lra].
Qed.

Lemma bools_complete k l : length l = k -> In l (bools k).
Proof.
  revert l; induction k as [| k IH]; intros l Hl.
  - destruct l; [left; reflexivity | discriminate].
  - destruct l as [| b l]; [discriminate |]; simpl in Hl; simpl.
    apply in_flat_map; exists l; split; [apply IH; lia |].
    destruct b; simpl; auto.
Qed.

Lemma filter_map_id {A} (f : A -> bool) l : length (filter (fun b => b) (map f l)) = length (filter f l).
Proof. induction l as [| a l IH]; simpl; [reflexivity | destruct (f a); simpl; rewrite IH; reflexivity]. Qed.

Lemma count_split {A} (f g : A -> bool) l : (forall a, In a l -> (f a || g a)%bool = true) ->
  (forall a, f a = true -> g a = false) -> (length (filter f l) + length (filter g l) = length l)%nat.
Proof.
  induction l as [| a l IH]; intros H1 H2; simpl; [reflexivity |].
  assert (IH' := IH (fun b Hb => H1 b (or_intror Hb)) H2).
  specialize (H1 a (or_introl eq_refl)).
  destruct (f a) eqn:F; [rewrite (H2 a F) | simpl in H1; rewrite H1]; simpl; lia.
Qed.

Lemma nth_map_lt {A B} (f : A -> B) l i da db : (i < length l)%nat -> nth i (map f l) db = f (nth i l da).
Proof. intros H; rewrite nth_indep with (d' := f da) by (rewrite map_length; exact H); apply map_nth. Qed.

Lemma in_grid {A} n (f : nat -> A) i : (i < n)%nat -> In (f i) (grid n f).
Proof. intros H; apply in_map, in_seq; lia. Qed.
Lemma grid_length {A} n (f : nat -> A) : length (grid n f) = n.
Proof. unfold grid; rewrite map_length, seq_length; reflexivity. Qed.

Lemma class_of_fst d pk wp Qt q m c kappa : fst (class_of d pk wp Qt q m c kappa) = true ->
  (Nat.leb q m && (Nat.eqb q m || Nat.ltb c (qp d)))%bool = true /\
  place_ok d (fun i => wlow (nth i wp (d0, d0)) (rd pk m)) (fun i => wlow (nth i wp (d0, d0)) (rd pk kappa)) Qt c = true.
Proof.
  unfold class_of; cbn [fst]; destruct (Nat.leb q m && (Nat.eqb q m || Nat.ltb c (qp d)))%bool; [auto | discriminate].
Qed.
Lemma class_of_snd d pk wp Qt q m c kappa : fst (class_of d pk wp Qt q m c kappa) = true ->
  snd (class_of d pk wp Qt q m c kappa) =
  grid (d_vocab d) (fun k => if Nat.ltb k m then dle (rd pk kappa) (rd pk k) else false).
Proof. unfold class_of; cbn [fst snd]; intros H; rewrite H; reflexivity. Qed.

Lemma class_of_snd_false d pk wp Qt q m c kappa : fst (class_of d pk wp Qt q m c kappa) = false ->
  snd (class_of d pk wp Qt q m c kappa) = [].
Proof. unfold class_of; cbn [fst snd]; intros H; rewrite H; reflexivity. Qed.

(** *** One class: every input of a certified class is correct *)
Section ClassProof.
Variable d : Data.
Variables p r : nat.
Local Notation M := (model_of d).
Local Notation V := (d_vocab d).
Local Notation K := (n_ctx d).
Local Notation n := (qp d).

Variables (cut : list (list D)) (wet wpt : list (list (D * D))) (eout pout dept : list (list D)).
Hypothesis Tcut : forall q j, (q < V)%nat -> (j < V)%nat -> rd (nth q cut []) j = cu d q j.
Hypothesis Twe : forall q, (q < V)%nat -> exists mx, forall k, (k < V)%nat ->
  nth k (nth q wet []) (d0, d0) = wbounds d p r mx (SEf d q k) /\ D2R (SEf d q k) <= D2R mx.
Hypothesis Twp : forall q, (q < V)%nat -> exists mx, forall i, (i < K)%nat ->
  nth i (nth q wpt []) (d0, d0) = wbounds d p r mx (SPf d q i) /\ D2R (SPf d q i) <= D2R mx.
Hypothesis Teout : forall k j, (k < V)%nat -> (j < V)%nat -> at2 d0 eout k j = EOU d k j.
Hypothesis Tpout : forall i j, (i < K)%nat -> (j < V)%nat -> at2 d0 pout i j = POU d i j.
Hypothesis Tdep : forall m k j i, (m < V)%nat -> (k < V)%nat -> (j < V)%nat -> j <> m -> (i < n)%nat ->
  D2R (at2 d0 dept m k) <= (D2R (EOU d k m) - D2R (EOU d k j)) + (D2R (POU d i m) - D2R (POU d i j)).

Theorem class_sound hints q m c t :
  (1 <= K)%nat -> (1 <= d_head d)%nat -> (q < V)%nat -> (m < V)%nat -> (c < K)%nat ->
  fst (nth c (qm_info d p cut wet wpt eout pout dept hints q m) (false, [])) = true ->
  length t = K ->
  in_class_q m (fun k => nth k (snd (nth c (qm_info d p cut wet wpt eout pout dept hints q m) (false, []))) false)
             q c t = true ->
  correct M t.
Proof.
  intros HK HD Hq Hm Hc Hok Hlen Hin.
  unfold qm_info in Hok, Hin; cbv zeta in Hok, Hin; rewrite nth_grid in Hok, Hin by exact Hc.
  destruct (Twe q Hq) as [mxE HwE]; destruct (Twp q Hq) as [mxP HwP].
  set (we := nth q wet []) in *; set (wp := nth q wpt []) in *.
  set (cm := mindiff d (nth q cut []) m) in *.
  set (pk := grid V (fun k => wlow (nth k we (d0, d0)) (dfloor (- Z.of_nat p) (dplus cm (at2 d0 dept m k))))) in *.
  set (dq := dminl (map (fun j => dplus (dminus (at2 d0 eout q m) (at2 d0 eout q j))
                                        (dminus (at2 d0 pout n m) (at2 d0 pout n j))) (others V m))) in *.
  set (Qt := wlow (nth n wp (d0, d0)) (wlow (nth q we (d0, d0)) (dfloor (- Z.of_nat p) (dplus cm dq)))) in *.
  set (kappa := at3 O hints q m c) in *.
  set (tau := rd pk kappa).
  destruct (class_of_fst d pk wp Qt q m c kappa Hok) as [Hv Hplace].
  rewrite (class_of_snd d pk wp Qt q m c kappa Hok) in Hin; fold tau in Hin.
  set (P := fun k => nth k (grid V (fun k => if Nat.ltb k m then dle tau (rd pk k) else false)) false) in Hin.
  apply andb_prop in Hv as [Hqm Hqc]; apply PeanoNat.Nat.leb_le in Hqm.
  assert (HP : forall a, P a = true -> (a < m)%nat /\ (a < V)%nat /\ D2R tau <= D2R (rd pk a)).
  { intros a Ha; unfold P in Ha.
    destruct (Nat.ltb_spec a V) as [L | L];
      [| rewrite nth_overflow in Ha by (rewrite grid_length; lia); discriminate].
    rewrite nth_grid in Ha by exact L; destruct (Nat.ltb_spec a m) as [H1 | H1]; [| discriminate].
    apply dle_spec in Ha; auto. }
  assert (Hqc' : q = m \/ (c < n)%nat).
  { apply Bool.orb_prop in Hqc as [E | E]; [left; apply PeanoNat.Nat.eqb_eq, E | right; apply PeanoNat.Nat.ltb_lt, E]. }
  assert (HKn : K = S n) by (unfold qp; lia).
  assert (Hmax : list_max t = m).
  { apply (in_class_q_max m P q n c t); [intros a Ha; apply HP, Ha | exact Hqm | exact Hqc' | lia | exact Hin]. }
  destruct (in_class_q_split m P q c t Hin) as [s [Et Hs]].
  assert (Hls : length s = n) by (subst t; rewrite app_length in Hlen; simpl in Hlen; lia).
  assert (Htn : tok t n = q).
  { subst t; unfold tok; rewrite app_nth2 by lia; rewrite Hls, PeanoNat.Nat.sub_diag; reflexivity. }
  assert (Hti : forall i, (i < n)%nat -> tok t i = nth i s 0%nat).
  { intros i Hi; subst t; unfold tok; apply app_nth1; lia. }
  assert (Hall : forall i, (i < n)%nat -> nth i s 0%nat = m \/ P (nth i s 0%nat) = true).
  { intros i Hi; unfold in_class in Hs; apply andb_prop in Hs as [Ha _].
    rewrite forallb_forall in Ha; specialize (Ha (nth i s 0%nat) (nth_In s 0%nat (ltac:(lia) : (i < length s)%nat))).
    unfold allowed in Ha; apply Bool.orb_prop in Ha as [E | E];
      [left; apply PeanoNat.Nat.eqb_eq, E | right; exact E]. }
  intros j Hj Hne; rewrite Hmax in Hne |- *; simpl in Hj.
  (* the margins *)
  assert (Hcm : D2R cm <= Cr M t m j).
  { rewrite Cr_split, Htn; unfold cm, mindiff; eapply Rle_trans.
    - apply dminl_le, in_map_iff; exists j; split; [reflexivity | apply in_others; auto].
    - rewrite D2R_dminus, !Tcut by assumption; lra. }
  assert (He_nq : forall i, (i < n)%nat ->
            D2R (dfloor (- Z.of_nat p) (dplus cm (at2 d0 dept m (tok t i)))) <= Cr M t m j + Dr M t m j i).
  { intros i Hi; eapply Rle_trans; [apply dfloor_le |]; rewrite D2R_dplus, Dr_split.
    assert (Htv : (tok t i < V)%nat) by (rewrite Hti by exact Hi; destruct (Hall i Hi) as [E | E]; [lia | apply HP, E]).
    pose proof (Tdep m (tok t i) j i Hm Htv Hj Hne Hi); lra. }
  assert (He_q : D2R (dfloor (- Z.of_nat p) (dplus cm dq)) <= Cr M t m j + Dr M t m j n).
  { eapply Rle_trans; [apply dfloor_le |]; rewrite D2R_dplus, Dr_split, Htn.
    assert (L : D2R dq <= (D2R (EOU d q m) - D2R (EOU d q j)) + (D2R (POU d n m) - D2R (POU d n j))).
    { unfold dq; eapply Rle_trans.
      - apply dminl_le, in_map_iff; exists j; split; [reflexivity | apply in_others; auto].
      - rewrite D2R_dplus, !D2R_dminus, !Teout, !Tpout by (unfold qp; lia); lra. }
    lra. }
  (* the softmax weights, up to one positive factor *)
  set (sq := sqrt (INR (d_head d))).
  assert (Hsq : 0 < sq) by (apply sqrt_lt_R0; apply (lt_INR 0); lia).
  set (aE := fun k => exp ((D2R (SEf d q k) - D2R mxE) / sq)).
  set (aP := fun i => exp ((D2R (SPf d q i) - D2R mxP) / sq)).
  set (e := fun i => Cr M t m j + Dr M t m j i).
  set (Zs := sum (ctx M) (fun l => exp (score M t l))).
  assert (HZ : 0 < Zs) by (apply sum_pos; [simpl; lia | intros; apply exp_pos]).
  set (c0 := (D2R mxE + D2R mxP) / sq).
  assert (Hattn : forall i, attn M t i = exp c0 / Zs * (aE (tok t i) * aP i)).
  { intros i; unfold attn; fold Zs.
    assert (E : exp (score M t i) = exp c0 * (aE (tok t i) * aP i)).
    { unfold aE, aP; rewrite <- !exp_plus; f_equal.
      unfold score; change (dhead M) with (d_head d); rewrite score_split, Htn; fold sq; unfold c0; field; lra. }
    rewrite E; field; lra. }
  (* each term from below *)
  assert (Hterm : forall i Ef, (i < K)%nat -> (tok t i < V)%nat -> D2R Ef <= e i ->
            D2R (wlow (nth i wp (d0, d0)) (wlow (nth (tok t i) we (d0, d0)) Ef)) <= aE (tok t i) * aP i * e i).
  { intros i Ef Hi Htv HEf.
    destruct (HwE (tok t i) Htv) as [E1 E2]; destruct (HwP i Hi) as [P1 P2].
    destruct (wbounds_spec d p r _ _ HD E2) as [A0 [A1 A2]].
    destruct (wbounds_spec d p r _ _ HD P2) as [B0 [B1 B2]].
    rewrite E1, P1; replace (aE (tok t i) * aP i * e i) with (aP i * (aE (tok t i) * e i)) by ring.
    apply wlow_le; [split; assumption | left; apply exp_pos |].
    apply wlow_le; [split; assumption | left; apply exp_pos | exact HEf]. }
  assert (Hpos : forall i, (i < n)%nat ->
     D2R (if nth i (map (fun a => Nat.eqb a m) s) false
          then wlow (nth i wp (d0, d0)) (rd pk m) else wlow (nth i wp (d0, d0)) tau)
     <= aE (tok t i) * aP i * e i).
  { intros i Hi.
    rewrite (nth_map_lt _ _ _ 0%nat) by lia.
    assert (Htv : (tok t i < V)%nat) by (rewrite Hti by exact Hi; destruct (Hall i Hi) as [E | E]; [lia | apply HP, E]).
    assert (T := Hterm i _ ltac:(lia) Htv (He_nq i Hi)).
    destruct (Nat.eqb_spec (nth i s 0%nat) m) as [E | E].
    - unfold pk, rd; rewrite nth_grid by exact Hm.
      rewrite Hti, E in T by exact Hi; rewrite Hti, E by exact Hi; exact T.
    - destruct (Hall i Hi) as [E' | HPa]; [contradiction |].
      destruct (HP _ HPa) as [_ [HaV Htau]].
      eapply Rle_trans; [| exact T].
      destruct (HwP i ltac:(lia)) as [P1 P2]; destruct (wbounds_spec d p r _ _ HD P2) as [B0 [B1 B2]].
      apply wlow_mono; [rewrite P1; lra |].
      rewrite Hti by exact Hi; unfold pk, rd in Htau; rewrite nth_grid in Htau by exact HaV; exact Htau. }
  (* the placement of the max among the non-query positions *)
  set (sel := map (fun a => Nat.eqb a m) s).
  assert (Hsel : In sel (filter (fun s0 => Nat.eqb (ntrue s0) (n - c)) (bools n))).
  { apply filter_In; split; [apply bools_complete; unfold sel; rewrite map_length; exact Hls |].
    apply PeanoNat.Nat.eqb_eq; unfold sel, ntrue; rewrite filter_map_id.
    unfold in_class in Hs; apply andb_prop in Hs as [Ha Hcnt]; apply PeanoNat.Nat.eqb_eq in Hcnt.
    rewrite <- Hls, <- (count_split (fun a => Nat.eqb a m) P s); [lia | |].
    - intros a Ia; rewrite forallb_forall in Ha; apply Ha, Ia.
    - intros a Ea; apply PeanoNat.Nat.eqb_eq in Ea; subst a.
      destruct (P m) eqn:Pm; [destruct (HP m Pm); lia | reflexivity]. }
  unfold place_ok in Hplace; rewrite forallb_forall in Hplace; specialize (Hplace sel Hsel).
  apply Z.ltb_lt, D2R_pos in Hplace; rewrite D2R_dplus, D2R_dsum in Hplace.
  (* conclusion *)
  apply Rminus_gt_0_lt; rewrite (margin_average M t m j ltac:(simpl; lia)).
  rewrite (sum_ext _ _ (fun i => exp c0 / Zs * (aE (tok t i) * aP i * e i)))
    by (intros i _; rewrite Hattn; unfold e; ring).
  rewrite sum_scal_l; apply Rmult_lt_0_compat;
    [unfold Rdiv; apply Rmult_lt_0_compat; [apply exp_pos | apply Rinv_0_lt_compat, HZ] |].
  replace (ctx M) with (S n) by (simpl; lia); cbn [sum].
  eapply Rlt_le_trans; [exact Hplace |]; apply Rplus_le_compat.
  - apply sum_le; intros i Hi; apply (Hpos i Hi).
  - unfold Qt; assert (T := Hterm n _ ltac:(lia) ltac:(rewrite Htn; exact Hq) He_q); rewrite Htn in T |- *; exact T.
Qed.
End ClassProof.

(** *** The tables of [cubic_info] satisfy [class_sound]'s hypotheses *)
Section Tables.
Variable d : Data.
Variables p r : nat.
Local Notation V := (d_vocab d).
Local Notation K := (n_ctx d).
Local Notation n := (qp d).

Lemma T_cut q j : (q < V)%nat -> (j < V)%nat -> rd (nth q (cut_t d) []) j = cu d q j.
Proof. intros; unfold cut_t, rd; rewrite !nth_grid by assumption; reflexivity. Qed.
Lemma T_eout k j : (k < V)%nat -> (j < V)%nat -> at2 d0 (eout_t d) k j = EOU d k j.
Proof. intros; unfold eout_t, at2; rewrite !nth_grid by assumption; reflexivity. Qed.
Lemma T_pout i j : (i < K)%nat -> (j < V)%nat -> at2 d0 (pout_t d) i j = POU d i j.
Proof. intros; unfold pout_t, at2; rewrite !nth_grid by assumption; reflexivity. Qed.

Lemma T_wt st len (f : nat -> D) q : (q < V)%nat -> length (nth q st []) = len ->
  (forall k, (k < len)%nat -> rd (nth q st []) k = f k) ->
  exists mx, forall k, (k < len)%nat ->
    nth k (nth q (wt_t d p r st len) []) (d0, d0) = wbounds d p r mx (f k) /\ D2R (f k) <= D2R mx.
Proof.
  intros Hq Hl Hf; exists (dmaxl (nth q st [])); intros k Hk.
  unfold wt_t; rewrite nth_grid by exact Hq; cbv zeta; rewrite nth_grid by exact Hk.
  rewrite <- (Hf k Hk); split; [reflexivity |].
  apply dmaxl_ge; unfold rd; apply nth_In; lia.
Qed.

Lemma T_we q : (q < V)%nat -> exists mx, forall k, (k < V)%nat ->
  nth k (nth q (wt_t d p r (set_t d (qvt_t d) (ekt_t d)) V) []) (d0, d0) = wbounds d p r mx (SEf d q k)
  /\ D2R (SEf d q k) <= D2R mx.
Proof.
  intros Hq; apply T_wt; [exact Hq | unfold set_t; rewrite nth_grid, grid_length by exact Hq; reflexivity |].
  intros k Hk; unfold set_t, rd; rewrite nth_grid by exact Hq; rewrite nth_grid by exact Hk.
  unfold qvt_t, ekt_t; rewrite !nth_grid by assumption; reflexivity.
Qed.
Lemma T_wp q : (q < V)%nat -> exists mx, forall i, (i < K)%nat ->
  nth i (nth q (wt_t d p r (spt_t d (qvt_t d) (pkt_t d)) K) []) (d0, d0) = wbounds d p r mx (SPf d q i)
  /\ D2R (SPf d q i) <= D2R mx.
Proof.
  intros Hq; apply T_wt; [exact Hq | unfold spt_t; rewrite nth_grid, grid_length by exact Hq; reflexivity |].
  intros i Hi; unfold spt_t, rd; rewrite nth_grid by exact Hq; rewrite nth_grid by exact Hi.
  unfold qvt_t, pkt_t; rewrite !nth_grid by assumption; reflexivity.
Qed.

Lemma T_dep m k j i : (m < V)%nat -> (k < V)%nat -> (j < V)%nat -> j <> m -> (i < n)%nat ->
  D2R (at2 d0 (dept_t d (eout_t d) (pnt_t d (pout_t d))) m k)
  <= (D2R (EOU d k m) - D2R (EOU d k j)) + (D2R (POU d i m) - D2R (POU d i j)).
Proof.
  intros Hm Hk Hj Hne Hi; unfold dept_t, at2 at 1; rewrite nth_grid by exact Hm; rewrite nth_grid by exact Hk.
  eapply Rle_trans; [apply dminl_le, in_map_iff; exists j; split; [reflexivity | apply in_others; auto] |].
  rewrite D2R_dplus, D2R_dminus, !T_eout by assumption.
  unfold pnt_t, at2 at 1; rewrite nth_grid by exact Hm; rewrite nth_grid by exact Hj.
  assert (L : D2R (dminl (map (fun i0 => dminus (at2 d0 (pout_t d) i0 m) (at2 d0 (pout_t d) i0 j)) (seq 0 n)))
              <= D2R (POU d i m) - D2R (POU d i j)).
  { eapply Rle_trans; [apply dminl_le, in_map_iff; exists i; split; [reflexivity | apply in_seq; lia] |].
    rewrite D2R_dminus, !T_pout by (unfold qp in *; lia); lra. }
  lra.
Qed.

Lemma info_at hints q m c : (q < V)%nat -> (m < V)%nat ->
  at3 (false, []) (cubic_info d p r hints) q m c =
  if Nat.leb q m then
  nth c (qm_info d p (cut_t d) (wt_t d p r (set_t d (qvt_t d) (ekt_t d)) V) (wt_t d p r (spt_t d (qvt_t d) (pkt_t d)) K)
           (eout_t d) (pout_t d) (dept_t d (eout_t d) (pnt_t d (pout_t d))) hints q m) (false, [])
  else (false, []).
Proof.
  intros Hq Hm; unfold cubic_info, at3; cbv zeta.
  rewrite nth_grid by exact Hq; cbv beta; rewrite nth_grid by exact Hm.
  destruct (Nat.leb q m); [reflexivity | destruct c; reflexivity].
Qed.

Lemma info_sound hints q m c t : (1 <= K)%nat -> (1 <= d_head d)%nat -> (q < V)%nat -> (m < V)%nat -> (c < K)%nat ->
  fst (at3 (false, []) (cubic_info d p r hints) q m c) = true -> length t = K ->
  in_class_q m (fun k => nth k (snd (at3 (false, []) (cubic_info d p r hints) q m c)) false) q c t = true ->
  correct (model_of d) t.
Proof.
  intros HK HD Hq Hm Hc; rewrite info_at by assumption; destruct (Nat.leb q m); [| discriminate].
  apply (class_sound d p r); auto.
  - apply T_cut.
  - apply T_we.
  - apply T_wp.
  - apply T_eout.
  - apply T_pout.
  - apply T_dep.
Qed.

(** the bits of a class's token set: only tokens below [m]; a certified class has [q <= m] and
    ([q = m] or [c < K - 1]) *)
Lemma info_props hints q m c : (q < V)%nat -> (m < V)%nat -> (c < K)%nat ->
  (forall a, nth a (snd (at3 (false, []) (cubic_info d p r hints) q m c)) false = true -> (a < m)%nat) /\
  (fst (at3 (false, []) (cubic_info d p r hints) q m c) = true -> (q <= m)%nat /\ (q = m \/ c < n)%nat).
Proof.
  intros Hq Hm Hc; rewrite info_at by assumption; destruct (Nat.leb q m);
    [| split; [intros a Ha; destruct a; discriminate | discriminate]].
  unfold qm_info; cbv zeta; rewrite nth_grid by exact Hc.
  match goal with |- context [class_of ?d' ?pk ?wp ?Qt ?q' ?m' ?c' ?k] =>
    assert (S1 := class_of_snd d' pk wp Qt q' m' c' k);
    assert (S0 := class_of_snd_false d' pk wp Qt q' m' c' k);
    assert (F1 := class_of_fst d' pk wp Qt q' m' c' k);
    set (cl := class_of d' pk wp Qt q' m' c' k) in * end.
  split.
  - intros a Ha; destruct (Bool.bool_dec (fst cl) true) as [F | F]; [rewrite (S1 F) in Ha | apply Bool.not_true_is_false in F; rewrite (S0 F) in Ha; destruct a; discriminate].
    destruct (Nat.ltb_spec a V) as [L | L];
      [| rewrite nth_overflow in Ha by (rewrite grid_length; lia); discriminate].
    rewrite nth_grid in Ha by exact L; destruct (Nat.ltb_spec a m) as [H1 | H1]; [exact H1 | discriminate].
  - intros H; destruct (F1 H) as [Hv _]; apply andb_prop in Hv as [H1 H2].
    apply PeanoNat.Nat.leb_le in H1; split; [exact H1 |].
    apply Bool.orb_prop in H2 as [E | E]; [left; apply PeanoNat.Nat.eqb_eq, E | right; apply PeanoNat.Nat.ltb_lt, E].
Qed.
End Tables.

(** *** Counting the certified classes *)
Lemma NoDup_app' {A} (l1 l2 : list A) : NoDup l1 -> NoDup l2 -> (forall x, In x l1 -> ~ In x l2) -> NoDup (l1 ++ l2).
Proof.
  induction 1 as [| a l1 Ha H1 IH]; intros H2 D; simpl; [exact H2 |].
  constructor.
  - rewrite in_app_iff; intros [I | I]; [contradiction | apply (D a (or_introl eq_refl) I)].
  - apply IH; [exact H2 | intros x Ix; apply D; right; exact Ix].
Qed.
Lemma NoDup_flat_map' {A B} (f : A -> list B) l : NoDup l -> (forall a, In a l -> NoDup (f a)) ->
  (forall a a' b, In a l -> In a' l -> In b (f a) -> In b (f a') -> a = a') -> NoDup (flat_map f l).
Proof.
  induction 1 as [| a l Ha Hl IH]; intros H1 H2; simpl; [constructor |].
  apply NoDup_app'.
  - apply H1; left; reflexivity.
  - apply IH; [intros; apply H1; right; assumption | intros; eapply H2; eauto; right; assumption].
  - intros b Ib Ib'; apply in_flat_map in Ib' as [a' [Ia' Ib'']].
    assert (a = a') by (eapply H2; [left; reflexivity | right; exact Ia' | exact Ib | exact Ib'']).
    subst; contradiction.
Qed.

Lemma in_triples d q m c : In (q, m, c) (triples d) -> (q < d_vocab d)%nat /\ (m < d_vocab d)%nat /\ (c < n_ctx d)%nat.
Proof.
  unfold triples; rewrite in_flat_map; intros [q' [Iq H]]; rewrite in_flat_map in H; destruct H as [m' [Im H]].
  apply in_map_iff in H as [c' [E Ic]]; inversion E; subst; apply in_seq in Iq, Im, Ic; lia.
Qed.
Lemma NoDup_triples d : NoDup (triples d).
Proof.
  unfold triples; apply NoDup_flat_map'; [apply seq_NoDup | intros q _ | ].
  - apply NoDup_flat_map'; [apply seq_NoDup | intros m _ | ].
    + apply FinFun.Injective_map_NoDup; [intros c c' E; inversion E; reflexivity | apply seq_NoDup].
    + intros m m' x _ _ I I'; apply in_map_iff in I as [c [E _]]; apply in_map_iff in I' as [c' [E' _]].
      subst; inversion E'; reflexivity.
  - intros q q' x _ _ I I'; apply in_flat_map in I as [m [_ I]]; apply in_flat_map in I' as [m' [_ I']].
    apply in_map_iff in I as [c [E _]]; apply in_map_iff in I' as [c' [E' _]]; subst; inversion E'; reflexivity.
Qed.

Lemma ForallOrdPairs_NoDup {A} (R : A -> A -> Prop) l : NoDup l ->
  (forall x y, In x l -> In y l -> x <> y -> R x y) -> ForallOrdPairs R l.
Proof.
  induction 1 as [| a l Ha Hl IH]; intros H; constructor.
  - apply Forall_forall; intros y Iy; apply H; [left; reflexivity | right; exact Iy | intros E; subst; contradiction].
  - apply IH; intros x y Ix Iy; apply H; right; assumption.
Qed.

Lemma seqs_len v k t : In t (seqs v k) -> length t = k.
Proof.
  revert t; induction k as [| k IH]; intros t; simpl.
  - intros [E | []]; subst; reflexivity.
  - rewrite in_flat_map; intros [s [Is It]]; apply in_map_iff in It as [a [E _]]; subst; simpl; rewrite (IH s Is); reflexivity.
Qed.

Section Sound.
Variable d : Data.
Variables p r : nat.
Variable hints : Hints.
Local Notation V := (d_vocab d).
Local Notation K := (n_ctx d).
Local Notation n := (qp d).
Local Notation info := (cubic_info d p r hints).

Definition cls (x : nat * nat * nat) : bool * list bool := let '(q, m, c) := x in at3 (false, []) info q m c.
Definition Pof (x : nat * nat * nat) (k : nat) : bool := nth k (snd (cls x)) false.
Definition member (x : nat * nat * nat) (t : list nat) : bool := let '(q, m, c) := x in in_class_q m (Pof x) q c t.
Definition size (x : nat * nat * nat) : nat := let '(q, m, c) := x in binom n c * g V (Pof x) ^ c.
Definition certified : list (nat * nat * nat) := filter (fun x => fst (cls x)) (triples d).

Lemma zcount_size : zcount d info = Z.of_nat (list_sum (map size certified)).
Proof.
  unfold zcount, certified; induction (triples d) as [| [[q m] c] l IH]; [reflexivity |].
  cbn [fold_right filter]; change (cls (q, m, c)) with (at3 (false, []) info q m c); destruct (fst (at3 (false, []) info q m c)) eqn:E; [| exact IH].
  change (list_sum (map size ((q, m, c) :: filter (fun x => fst (cls x)) l))) with (size (q, m, c) + list_sum (map size (filter (fun x => fst (cls x)) l)))%nat.
  rewrite Nat2Z.inj_add, <- IH; f_equal; unfold size, Pof, cls; rewrite Nat2Z.inj_mul, Nat2Z.inj_pow; reflexivity.
Qed.

Lemma certified_props x : In x certified ->
  exists q m c, x = (q, m, c) /\ (q < V)%nat /\ (m < V)%nat /\ (c < K)%nat /\ fst (at3 (false, []) info q m c) = true.
Proof.
  unfold certified; rewrite filter_In; destruct x as [[q m] c]; intros [I H].
  destruct (in_triples d q m c I) as [Hq [Hm Hc]]; exists q, m, c; auto.
Qed.

Theorem certified_count (HK : (1 <= K)%nat) (HD : (1 <= d_head d)%nat) :
  (list_sum (map size certified) <= length (filter (correctb (model_of d)) (seqs V K)))%nat.
Proof.
  set (Ss := seqs V K).
  assert (E : length (filter (fun t => existsb (fun x => member x t) certified) Ss) = list_sum (map size certified)).
  { rewrite union_count.
    - f_equal; apply map_ext_in; intros x Ix.
      destruct (certified_props x Ix) as [q [m [c [Ex [Hq [Hm [Hc Hok]]]]]]]; subst x.
      unfold member, size, Ss; replace K with (S n) by (unfold qp; lia).
      destruct (info_props d p r hints q m c Hq Hm Hc) as [HP _].
      apply class_count_query; [exact Hm | | exact Hq].
      unfold Pof, cls; destruct (nth m _ false) eqn:Pm; [specialize (HP m Pm); lia | reflexivity].
    - apply ForallOrdPairs_NoDup; [apply NoDup_filter, NoDup_triples |].
      intros x y Ix Iy Hxy t It Hx; apply Bool.not_true_iff_false; intros Hy.
      destruct (certified_props x Ix) as [q [m [c [Ex [Hq [Hm [Hc Hok]]]]]]].
      destruct (certified_props y Iy) as [q' [m' [c' [Ey [Hq' [Hm' [Hc' Hok']]]]]]]; subst x y.
      destruct (info_props d p r hints q m c Hq Hm Hc) as [HP Hqm].
      destruct (info_props d p r hints q' m' c' Hq' Hm' Hc') as [HP' Hqm'].
      specialize (Hqm Hok); specialize (Hqm' Hok').
      destruct Hqm as [Hqm1 Hqm2]; destruct Hqm' as [Hqm1' Hqm2'].
      destruct (class_disjoint m (Pof (q, m, c)) q c m' (Pof (q', m', c')) q' c' n t) as [E1 [E2 E3]];
        try assumption; try exact HP; try exact HP'.
      + rewrite (seqs_len _ _ _ It); unfold qp; lia.
      + apply Hxy; subst; reflexivity. }
  rewrite <- E; apply filter_length_mono; intros t It Ht.
  apply existsb_exists in Ht as [x [Ix Hx]].
  destruct (certified_props x Ix) as [q [m [c [Ex [Hq [Hm [Hc Hok]]]]]]]; subst x.
  apply correctb_iff; exact (info_sound d p r hints q m c t HK HD Hq Hm Hc Hok (seqs_len _ _ _ It) Hx).
Qed.
End Sound.

(** The check implies the claim, for every record, precision and hints. *)
Theorem cubic_sound (d : Data) (p r : nat) (hints : Hints) :
  cubic_check d p r hints = true -> (claim d <= accuracy (model_of d))%R.
Proof.
  unfold cubic_check; intros H.
  apply andb_prop in H as [H Hc]; apply andb_prop in H as [H Hden].
  apply andb_prop in H as [H Hhd]; apply andb_prop in H as [Hv HK].
  apply PeanoNat.Nat.leb_le in Hv, HK, Hhd; apply Z.ltb_lt in Hden; apply Z.leb_le in Hc.
  rewrite zcount_size in Hc.
  assert (Hcnt := certified_count d p r hints HK Hhd).
  set (cnt := list_sum (map (size d p r hints) (certified d p r hints))) in *.
  unfold claim, accuracy; simpl.
  rewrite <- Nat2Z.inj_pow in Hc.
  assert (HV : (1 <= d_vocab d ^ n_ctx d)%nat).
  { rewrite <- (PeanoNat.Nat.pow_1_l (n_ctx d)); apply PeanoNat.Nat.pow_le_mono_l; exact Hv. }
  apply le_INR in Hcnt, HV; simpl in HV.
  apply IZR_le in Hc; rewrite !mult_IZR, <- !INR_IZR_INZ in Hc; apply IZR_lt in Hden.
  apply Rle_trans with (INR cnt / INR (d_vocab d ^ n_ctx d)).
  - apply Rmult_le_reg_r with (IZR (claim_den d) * INR (d_vocab d ^ n_ctx d)); [nra |].
    unfold Rdiv; field_simplify; [nra | lra | lra].
  - unfold Rdiv; apply Rmult_le_compat_r; [left; apply Rinv_0_lt_compat; lra | exact Hcnt].
Qed.
