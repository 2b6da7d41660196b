(** * Mixture: the dominance argument of docs/proofs/cubic.md, step 2, over [R].

    An input of a class has, at the selected non-query positions [i] ([sel i = true]), tokens
    [tok i] that may differ. Each position's bound [B i k] is non-decreasing in a per-token
    figure [Pk k] (cubic.md: [B̄_i(k) = up(alpha_i^± P_k)]). Replacing every selected token by a
    present token [k*] with the largest [Pk] can only raise the sum ([mixture_le]); such a [k*]
    exists ([argmax_exists]); so if the bound is negative for every present token used alone
    ([k] certified), it is negative for the mixture ([mixture_negative]). Also: the regrouping
    [sum_M A + sum_N B = sum_all B + sum_M (A - B)] of the placement bound (3)
    ([placement_regroup]), that bound for any threshold in place of the sorted top [r]
    ([placement_threshold]), and the sign of a weighted sum is that of any positive multiple of its
    weights ([sum_sign_scale]: softmax weights versus [alpha_i E_(t_i)]). *)
From Coq Require Import Reals Lra Lia.
From CompactProofs Require Import Spec Lib.
Local Open Scope R_scope.

Definition sel_sum (n : nat) (sel : nat -> bool) (f : nat -> R) : R :=
  sum n (fun l => if sel l then f l else 0).

Lemma mixture_le n sel (tok : nat -> nat) (B : nat -> nat -> R) (Pk : nat -> R) ks :
  (forall i k k', Pk k <= Pk k' -> B i k <= B i k') ->
  (forall i, (i < n)%nat -> sel i = true -> Pk (tok i) <= Pk ks) ->
  sel_sum n sel (fun l => B l (tok l)) <= sel_sum n sel (fun l => B l ks).
Proof.
  intros Hmono Hk; unfold sel_sum; apply sum_le; intros i Hi.
  destruct (sel i) eqn:S; [apply Hmono, Hk; assumption | lra].
Qed.

Lemma classic_sel n (sel : nat -> bool) :
  (exists i, (i < n)%nat /\ sel i = true) \/ ~ (exists i, (i < n)%nat /\ sel i = true).
Proof.
  induction n as [| n [[i [Hi Si]] | N]].
  - right; intros [i [Hi _]]; lia.
  - left; exists i; split; [lia | exact Si].
  - destruct (sel n) eqn:Sn; [left; exists n; split; [lia | exact Sn] |].
    right; intros [i [Hi Si]]; destruct (PeanoNat.Nat.eq_dec i n) as [E | E];
      [subst; congruence | apply N; exists i; split; [lia | exact Si]].
Qed.

(** Among the selected positions (at least one), one carries the largest value of [f]. *)
Lemma argmax_exists n (sel : nat -> bool) (f : nat -> R) :
  (exists i, (i < n)%nat /\ sel i = true) ->
  exists j, (j < n)%nat /\ sel j = true /\ forall i, (i < n)%nat -> sel i = true -> f i <= f j.
Proof.
  induction n as [| n IH]; intros [i [Hi Si]]; [lia |].
  destruct (classic_sel n sel) as [[i' [Hi' Si']] | None].
  - destruct (IH (ex_intro _ i' (conj Hi' Si'))) as [j [Hj [Sj Mj]]].
    destruct (sel n) eqn:Sn.
    + destruct (Rle_dec (f n) (f j)) as [L | L].
      * exists j; split; [lia | split; [exact Sj |]].
        intros i0 Hi0 S0; destruct (PeanoNat.Nat.eq_dec i0 n) as [E | E];
          [subst; exact L | apply Mj; [lia | exact S0]].
      * exists n; split; [lia | split; [exact Sn |]].
        intros i0 Hi0 S0; destruct (PeanoNat.Nat.eq_dec i0 n) as [E | E];
          [subst; lra | specialize (Mj i0 ltac:(lia) S0); lra].
    + exists j; split; [lia | split; [exact Sj |]].
      intros i0 Hi0 S0; destruct (PeanoNat.Nat.eq_dec i0 n) as [E | E];
        [subst; congruence | apply Mj; [lia | exact S0]].
  - assert (E : i = n).
    { destruct (PeanoNat.Nat.eq_dec i n) as [E | E]; [exact E |].
      exfalso; apply None; exists i; split; [lia | exact Si]. }
    subst i; exists n; split; [lia | split; [exact Si |]].
    intros i0 Hi0 S0; destruct (PeanoNat.Nat.eq_dec i0 n) as [E | E]; [subst; lra |].
    exfalso; apply None; exists i0; split; [lia | exact S0].
Qed.

(** The mixture argument: if, for every selected position [i], putting its token [tok i] at all
    selected positions gives a negative bound [X + sum_sel B l (tok i)] (every present token is
    certified), then the bound with the actual, mixed tokens is negative too. [X] is the rest of
    cubic.md's [F] (the positions holding the max and the query). *)
Theorem mixture_negative n sel (tok : nat -> nat) (B : nat -> nat -> R) (Pk : nat -> R) (X : R) :
  (forall i k k', Pk k <= Pk k' -> B i k <= B i k') ->
  (exists i, (i < n)%nat /\ sel i = true) ->
  (forall i, (i < n)%nat -> sel i = true -> X + sel_sum n sel (fun l => B l (tok i)) < 0) ->
  X + sel_sum n sel (fun l => B l (tok l)) < 0.
Proof.
  intros Hmono Hex Hcert.
  destruct (argmax_exists n sel (fun i => Pk (tok i)) Hex) as [j [Hj [Sj Mj]]].
  assert (L := mixture_le n sel tok B Pk (tok j) Hmono Mj).
  specialize (Hcert j Hj Sj); lra.
Qed.

(** The regrouping behind the placement bound (3): with [B] at the selected positions and [A]
    at the others, the sum is the sum of all [B] plus the differences [A - B] at the others. *)
Lemma placement_regroup n (sel : nat -> bool) (A B : nat -> R) :
  sum n (fun i => if sel i then B i else A i) =
  sum n B + sum n (fun i => if sel i then 0 else A i - B i).
Proof.
  rewrite <- sum_plus; apply sum_ext; intros i _; destruct (sel i); ring.
Qed.

(** Termwise upper bounds at every position bound the placement's sum. *)
Lemma placement_le n (sel : nat -> bool) (A B Au Bu : nat -> R) :
  (forall i, (i < n)%nat -> A i <= Au i) -> (forall i, (i < n)%nat -> B i <= Bu i) ->
  sum n (fun i => if sel i then B i else A i) <= sum n (fun i => if sel i then Bu i else Au i).
Proof.
  intros HA HB; apply sum_le; intros i Hi; destruct (sel i); [apply HB | apply HA]; exact Hi.
Qed.

(** Scaling all weights by one positive factor keeps the sign (cubic.md (2): the softmax weights
    [a_i] are [kappa * alpha_i E_(t_i)] for a positive [kappa]). *)
Lemma sum_sign_scale n (a b e : nat -> R) (kappa : R) : 0 < kappa ->
  (forall i, (i < n)%nat -> a i = kappa * b i) ->
  (sum n (fun i => a i * e i) < 0 <-> sum n (fun i => b i * e i) < 0).
Proof.
  intros Hk Hab.
  rewrite (sum_ext n (fun i => a i * e i) (fun i => kappa * (b i * e i)))
    by (intros i Hi; rewrite Hab by exact Hi; ring).
  rewrite sum_scal_l; split; intros H.
  - destruct (Rlt_dec (sum n (fun i => b i * e i)) 0) as [L | L]; [exact L |].
    exfalso; assert (0 <= kappa * sum n (fun i => b i * e i)) by (apply Rmult_le_pos; lra); lra.
  - assert (0 < kappa * - sum n (fun i => b i * e i)) by (apply Rmult_lt_0_compat; lra); lra.
Qed.

(** The factorisation of cubic.md (2): [exp((e_t + p_i) / s - c) = E_t * alpha_i] with
    [E_t = exp(e_t / s - c1)], [alpha_i = exp(p_i / s - c2)] and [c = c1 + c2]. *)
Lemma exp_factor e p s c1 c2 :
  exp ((e + p) / s - (c1 + c2)) = exp (e / s - c1) * exp (p / s - c2).
Proof.
  rewrite <- exp_plus; f_equal; unfold Rdiv; ring.
Qed.

(** The placement bound (3) without sorting: for any threshold [tau], a sum over the selected
    positions is at most [r tau + sum_i max(D_i - tau, 0)], [r] the number of selected positions.
    Sound for every [tau]; with [tau] the [r]-th largest [D_i] the right side is the sum of the [r]
    largest [D_i], cubic.md's bound. *)
Theorem placement_threshold n (sel : nat -> bool) (Dv : nat -> R) (tau : R) :
  sel_sum n sel Dv <=
  sum n (fun i => if sel i then 1 else 0) * tau + sum n (fun i => Rmax (Dv i - tau) 0).
Proof.
  unfold sel_sum; rewrite <- sum_scal_r, <- sum_plus; apply sum_le; intros i _.
  assert (M1 := Rmax_l (Dv i - tau) 0); assert (M2 := Rmax_r (Dv i - tau) 0).
  destruct (sel i); lra.
Qed.
