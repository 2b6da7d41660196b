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

Lemma count_eq_seq m n : length (filter (Nat.eqb m) (seq 0 n)) = if Nat.ltb m n then 1 else 0.
Proof.
  induction n as [| n IH]; [reflexivity |].
  rewrite seq_S, filter_app, app_length, IH; simpl.
  destruct (Nat.eqb_spec m n) as [E | E]; destruct (Nat.ltb_spec m n); destruct (Nat.ltb_spec m (S n));
    simpl; lia.
Qed.

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
  rewrite F, map_length, inner_count, (count_eq_seq m).
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

(** ** The query token at the last position

    Spec.v's [seqs] puts the newest token first; the query is the last token. Up to order, the
    inputs of length [n + 1] are the sequences of length [n] with each query token appended. *)

Lemma filter_length_perm {A} (f : A -> bool) l l' :
  Permutation l l' -> length (filter f l) = length (filter f l').
Proof.
  induction 1 as [| a l l' _ IH | a b l | l l' l'' _ IH1 _ IH2]; simpl.
  - reflexivity.
  - destruct (f a); simpl; lia.
  - destruct (f a), (f b); reflexivity.
  - lia.
Qed.

Lemma flat_map_flat_map {A B C} (f : B -> list C) (h : A -> list B) l :
  flat_map f (flat_map h l) = flat_map (fun a => flat_map f (h a)) l.
Proof. induction l as [| a l IH]; simpl; [reflexivity | rewrite flat_map_app, IH; reflexivity]. Qed.

Lemma map_flat_map {A B C} (f : B -> C) (h : A -> list B) l :
  map f (flat_map h l) = flat_map (fun a => map f (h a)) l.
Proof. induction l as [| a l IH]; simpl; [reflexivity | rewrite map_app, IH; reflexivity]. Qed.

Lemma flat_map_map' {A B C} (f : B -> list C) (h : A -> B) l :
  flat_map f (map h l) = flat_map (fun a => f (h a)) l.
Proof. induction l as [| a l IH]; simpl; [reflexivity | rewrite IH; reflexivity]. Qed.

Lemma seqs_snoc v n :
  Permutation (seqs v (S n)) (flat_map (fun q => map (fun s => s ++ [q]) (seqs v n)) (seq 0 v)).
Proof.
  induction n as [| n IH].
  - simpl; rewrite app_nil_r.
    induction (seq 0 v) as [| a l IHl]; simpl; [constructor | apply perm_skip, IHl].
  - change (seqs v (S (S n))) with
      (flat_map (fun s => map (fun a => a :: s) (seq 0 v)) (seqs v (S n))).
    rewrite IH, flat_map_flat_map.
    match goal with |- Permutation ?a ?b => replace a with b; [apply Permutation_refl |] end.
    apply flat_map_ext; intros q; cbn [seqs].
    rewrite flat_map_map', map_flat_map; apply flat_map_ext; intros s.
    rewrite map_map; reflexivity.
Qed.


Lemma filter_flat_map_length {A B} (f : B -> bool) (h : A -> list B) l :
  length (filter f (flat_map h l)) = list_sum (map (fun a => length (filter f (h a))) l).
Proof.
  induction l as [| a l IH]; simpl; [reflexivity | rewrite filter_app, app_length, IH; reflexivity].
Qed.

Lemma filter_map_length {A B} (f : B -> bool) (h : A -> B) l :
  length (filter f (map h l)) = length (filter (fun a => f (h a)) l).
Proof. induction l as [| a l IH]; simpl; [| destruct (f (h a)); simpl; rewrite IH]; reflexivity. Qed.

Lemma list_sum_indicator q N L :
  list_sum (map (fun q' => if Nat.eqb q' q then N else 0) L) = length (filter (Nat.eqb q) L) * N.
Proof.
  induction L as [| a L IH]; simpl; [reflexivity |].
  rewrite IH, Nat.eqb_sym; destruct (Nat.eqb q a); simpl; lia.
Qed.

Lemma filter_false_length {A} (l : list A) : length (filter (fun _ => false) l) = 0.
Proof. induction l; simpl; auto. Qed.

(** an input [t] of the class: its last (query) token is [q], the others are [in_class m P c] *)
Definition in_class_q (m : nat) (P : nat -> bool) (q c : nat) (t : list nat) : bool :=
  match rev t with [] => false | q' :: r => (Nat.eqb q' q && in_class m P c (rev r))%bool end.

Lemma in_class_q_snoc m P q c s q' :
  in_class_q m P q c (s ++ [q']) = (Nat.eqb q' q && in_class m P c s)%bool.
Proof. unfold in_class_q; rewrite rev_unit, rev_involutive; reflexivity. Qed.

(** The inputs of length [n + 1] (Spec.v's [seqs]) with query token [q < v], [c] allowed tokens
    at the non-query positions and [m] at the others: [C(n, c) g^c] of them, as cubic.md counts. *)
Theorem class_count_query v m P q n c : (m < v)%nat -> P m = false -> (q < v)%nat ->
  length (filter (in_class_q m P q c) (seqs v (S n))) = binom n c * g v P ^ c.
Proof.
  intros Hm HPm Hq.
  rewrite (filter_length_perm _ _ _ (seqs_snoc v n)), filter_flat_map_length.
  rewrite (map_ext (fun q' => length (filter (in_class_q m P q c) (map (fun s => s ++ [q']) (seqs v n))))
                   (fun q' => if Nat.eqb q' q then length (filter (in_class m P c) (seqs v n)) else 0)).
  - rewrite list_sum_indicator, count_eq_seq, class_count by assumption.
    destruct (Nat.ltb_spec q v); [lia | lia].
  - intros q'; rewrite filter_map_length.
    rewrite (filter_ext _ (fun s => Nat.eqb q' q && in_class m P c s)%bool) by (intros; apply in_class_q_snoc).
    destruct (Nat.eqb q' q); [reflexivity | apply filter_false_length].
Qed.

(** ** The class of an input is determined by the input

    With allowed tokens below the max ([P a = true -> a < m]), the number [c] is the number of
    non-query positions not holding [m] ([in_class_c]), and the max of an input of the class is [m]
    when [q = m] or some non-query position holds [m], i.e. [c < n] ([in_class_q_max]). So classes
    with different [(q, m, c)] are disjoint ([class_disjoint]), whatever their sets [P]. *)

Lemma in_class_c m P c s : (forall a, P a = true -> (a < m)%nat) ->
  in_class m P c s = true -> c = length (filter (fun a => negb (Nat.eqb a m)) s).
Proof.
  intros HP H; unfold in_class in H; apply Bool.andb_true_iff in H as [Ha Hc].
  apply Nat.eqb_eq in Hc; subst c.
  induction s as [| a s IH]; [reflexivity |].
  simpl in Ha |- *; apply Bool.andb_true_iff in Ha as [Ha Hs]; unfold allowed in Ha.
  destruct (Nat.eqb_spec a m) as [E | E]; simpl.
  - subst a; destruct (P m) eqn:Pm; [specialize (HP m Pm); lia | apply IH, Hs].
  - simpl in Ha; rewrite Ha; simpl; rewrite IH by exact Hs; reflexivity.
Qed.

Lemma in_list_max a l : In a l -> (a <= list_max l)%nat.
Proof.
  induction l as [| b l IH]; [intros [] | intros [E | H]]; simpl; [subst; lia | specialize (IH H); lia].
Qed.

Lemma in_class_q_split m P q c t : in_class_q m P q c t = true ->
  exists s, t = s ++ [q] /\ in_class m P c s = true.
Proof.
  unfold in_class_q; intros H.
  destruct (rev t) as [| q' r] eqn:R; [discriminate |].
  apply Bool.andb_true_iff in H as [Hq Hs]; apply Nat.eqb_eq in Hq; subst q'.
  exists (rev r); split; [| exact Hs].
  rewrite <- (rev_involutive t), R; reflexivity.
Qed.

Theorem in_class_q_max m P q n c t : (forall a, P a = true -> (a < m)%nat) -> (q <= m)%nat ->
  (q = m \/ c < n)%nat -> length t = S n -> in_class_q m P q c t = true -> list_max t = m.
Proof.
  intros HP Hq Hc Hlen H.
  destruct (in_class_q_split m P q c t H) as [s [E Hs]]; subst t.
  rewrite app_length in Hlen; simpl in Hlen.
  assert (Cs := in_class_c m P c s HP Hs).
  unfold in_class in Hs; apply Bool.andb_true_iff in Hs as [Ha _].
  assert (Le : (list_max s <= m)%nat).
  { apply list_max_le, Forall_forall; intros a Ia.
    rewrite forallb_forall in Ha; specialize (Ha a Ia); unfold allowed in Ha.
    destruct (Nat.eqb_spec a m); [lia |]; simpl in Ha; specialize (HP a Ha); lia. }
  rewrite list_max_app; simpl.
  destruct Hc as [Hc | Hc]; [subst q; lia |].
  assert (Ex : exists a, In a s /\ a = m).
  { assert (F : (length (filter (fun a => negb (Nat.eqb a m)) s) < length s)%nat) by lia.
    clear -F; induction s as [| a s IH]; simpl in F; [lia |].
    destruct (Nat.eqb_spec a m) as [E | E]; [exists a; split; [left |]; auto |].
    simpl in F; destruct IH as [b [Ib Eb]]; [lia | exists b; split; [right |]; auto]. }
  destruct Ex as [a [Ia Ea]]; subst a; assert (Ge := in_list_max m s Ia); lia.
Qed.

Theorem class_disjoint m P q c m' P' q' c' n t :
  (forall a, P a = true -> (a < m)%nat) -> (q <= m)%nat -> (q = m \/ c < n)%nat ->
  (forall a, P' a = true -> (a < m')%nat) -> (q' <= m')%nat -> (q' = m' \/ c' < n)%nat ->
  length t = S n -> in_class_q m P q c t = true -> in_class_q m' P' q' c' t = true ->
  m = m' /\ q = q' /\ c = c'.
Proof.
  intros HP Hq Hc HP' Hq' Hc' Hlen H H'.
  assert (Em : m = m').
  { rewrite <- (in_class_q_max m P q n c t), <- (in_class_q_max m' P' q' n c' t); auto. }
  subst m'.
  destruct (in_class_q_split m P q c t H) as [s [E Hs]].
  destruct (in_class_q_split m P' q' c' t H') as [s' [E' Hs']].
  rewrite E in E'; apply app_inj_tail in E' as [Es Eq]; subst s' q'.
  rewrite (in_class_c m P c s HP Hs), (in_class_c m P' c' s HP' Hs'); auto.
Qed.

(** ** The counts of all classes: the binomial theorem *)

Fixpoint nsum (n : nat) (f : nat -> nat) : nat := match n with O => 0 | S n' => nsum n' f + f n' end.

Lemma nsum_ext n f g : (forall i, i < n -> f i = g i) -> nsum n f = nsum n g.
Proof. induction n; intros H; simpl; [reflexivity |]. rewrite IHn by (intros; apply H; lia). rewrite H by lia; reflexivity. Qed.
Lemma nsum_plus n f g : nsum n (fun i => f i + g i) = nsum n f + nsum n g.
Proof. induction n; simpl; [reflexivity | rewrite IHn; lia]. Qed.
Lemma nsum_scal n k f : nsum n (fun i => k * f i) = k * nsum n f.
Proof. induction n; simpl; [lia | rewrite IHn; ring]. Qed.
Lemma nsum_shift n f : nsum (S n) f = f 0 + nsum n (fun i => f (S i)).
Proof. induction n; simpl in *; [lia | rewrite IHn; lia]. Qed.

Lemma binom_gt n k : n < k -> binom n k = 0.
Proof.
  revert k; induction n as [| n IH]; intros [| k] H; simpl; try lia.
  rewrite !IH by lia; reflexivity.
Qed.

(** The binomial theorem in the form of cubic.md's count: [sum_(c <= n) C(n, c) g^c = (g + 1)^n]. *)
Theorem binom_sum n g : nsum (S n) (fun c => binom n c * g ^ c) = (S g) ^ n.
Proof.
  induction n as [| n IH]; [reflexivity |].
  rewrite nsum_shift, binom_0; simpl Nat.pow at 1.
  rewrite (nsum_ext (S n) (fun i => binom (S n) (S i) * g ^ S i)
                    (fun i => g * (binom n i * g ^ i) + binom n (S i) * g ^ S i))
    by (intros; simpl; ring).
  rewrite nsum_plus, nsum_scal, IH.
  assert (E : 1 + nsum (S n) (fun i => binom n (S i) * g ^ S i) = S g ^ n).
  { rewrite <- IH.
    transitivity (nsum (S (S n)) (fun c => binom n c * g ^ c)).
    - rewrite (nsum_shift (S n)), binom_0; simpl Nat.pow at 1; rewrite Nat.mul_1_r; reflexivity.
    - change (nsum (S (S n)) (fun c => binom n c * g ^ c))
        with (nsum (S n) (fun c => binom n c * g ^ c) + binom n (S n) * g ^ S n).
      rewrite binom_gt by lia; lia. }
  rewrite Nat.pow_succ_r'; lia.
Qed.

(** ** The count of a union of disjoint classes is the sum of their counts *)

Lemma filter_or_disjoint {A} (f h : A -> bool) S :
  (forall t, In t S -> f t = true -> h t = false) ->
  length (filter (fun t => (f t || h t)%bool) S) = length (filter f S) + length (filter h S).
Proof.
  induction S as [| t S IH]; intros D; simpl; [reflexivity |].
  assert (IH' := IH (fun t' It' => D t' (or_intror It'))).
  destruct (f t) eqn:F; simpl.
  - rewrite (D t (or_introl eq_refl) F); simpl; lia.
  - destruct (h t); simpl; lia.
Qed.

Theorem union_count {A B} (f : B -> A -> bool) (ks : list B) (S : list A) :
  ForallOrdPairs (fun k1 k2 => forall t, In t S -> f k1 t = true -> f k2 t = false) ks ->
  length (filter (fun t => existsb (fun k => f k t) ks) S) =
  list_sum (map (fun k => length (filter (f k) S)) ks).
Proof.
  induction 1 as [| k ks Hk _ IH]; simpl.
  - induction S; simpl; auto.
  - rewrite (filter_or_disjoint (f k) (fun t => existsb (fun k' => f k' t) ks)), IH; [reflexivity |].
    intros t It Ft; apply Bool.not_true_iff_false; intros E.
    apply existsb_exists in E as [k' [Ik' Fk']].
    rewrite Forall_forall in Hk; rewrite (Hk k' Ik' t It Ft) in Fk'; discriminate.
Qed.
