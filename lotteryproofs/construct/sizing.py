"""What the a-priori width ρ promises once the search cap is applied, and how a ticket's
widths were chosen (proofs/2l-construction.md, "Constants" and "When the widths are chosen").

The width theorem (proofs/width-theorem.md) sizes ρ so that a pool of ρ candidates (ρ/2
values for mirror pairs) solves its instance except with probability δ/M. The construction
searches only the first :data:`~lotteryproofs.construct.common.MAX_SEARCHED` candidates of a
pool (the exact search is exponential), so the theorem's P(any failure) ≤ δ is about a
search that is not run whenever a pool can be longer than the cap. (Bounded-gain copy pools
are searched up to :data:`~lotteryproofs.construct.common.MAX_SEARCHED_CARD` candidates, but
only over subsets of at most :data:`~lotteryproofs.construct.common.MAX_CARD_SIZE` of them —
the cardinality search — which is not the search the theorem counts either; so the cap below
stays MAX_SEARCHED for every construction.) Hence:

* :func:`longest_pool`: the most candidates any pool of a source of multiplicity ρ (ρ_in) can
  hold — ρ for sign-split, constant and copy pools, ρ/2 for looks-linear mirror pairs;
* :func:`counting_refusal`: a reason to refuse the a-priori ρ outright when even a perfect
  search of MAX_SEARCHED values cannot cover the targets' range within ε' (2^m subset sums
  cover at most 2^m·2ε' of [−z, z]; THEORY.md §3's counting bound), else None;
* :func:`activation_refusal`: a reason to refuse the a-priori ρ for a target whose
  activations are not positively homogeneous (its constant neurons' candidates v·φ(c) are
  not the product law the theorem counts);
* :func:`sizing_beta`: the bias factor β the theorem is evaluated at (the source's own), or a
  reason to refuse when β = 0 leaves every bias pool empty;
* :func:`selection_notes`: the sentences a ticket carries about how its widths were chosen
  (after seeing the target's norms, after seeing failures) and whether the a-priori
  guarantee holds under the cap — recomputed by ``verify`` from the metadata it checks.
"""

from __future__ import annotations

from fractions import Fraction

from lotteryproofs.construct.common import MAX_SEARCHED


def sizing_law(init: str, init_options) -> str:
    """The weight law D_w the a-priori sizing assumes: the scheme's ``law`` option, else the
    family its name starts with."""
    return init_options.get("law", "normal" if init.startswith("normal") else "uniform")


def sizing_beta(spec, init_options) -> tuple[float, str | None]:
    """(β, refusal): the bias factor the width theorem is evaluated at — the scheme's
    ``bias_factor`` (default 1; the bias pools' candidates are v·c with c ~ β·D_b, THEORY.md
    §1, §6) — and a reason to refuse the a-priori width, or None.

    β = 0 draws no biases: a construction that represents biases has only zero candidates for
    them, so no width makes P(any failure) ≤ δ and the theorem gives no ρ. A construction
    without bias instances (``spec.biases`` False) does not depend on β (1 is returned).
    """
    beta = float(init_options.get("bias_factor", 1.0))
    if not spec.biases:
        return 1.0, None
    if beta == 0.0:
        return beta, ("bias_factor (β) = 0 draws no source biases, so no width solves the "
                      "target's bias instances; give rho (--rho) or a source with β > 0")
    return beta, None


def activation_refusal(target) -> str | None:
    """Why the width theorem gives no ρ for this target's activations, or None.

    The theorem's hidden bias pools hold products v·c (THEORY.md §6): a constant neuron of a
    ReLU or LeakyReLU layer outputs c for c > 0 (the usable half). Of a φ-layer it outputs
    φ(c) (proofs/l-plus-one-general.md), e.g. v·sigmoid(c) ∈ v·(0, 1), a law whose contained
    uniform the theorem does not have; so no a-priori ρ is proven there."""
    other = [a.spec for a in target.activations if not a.positively_homogeneous]
    if not other:
        return None
    return (f"the width theorem covers positively homogeneous activations only, got "
            f"{other[0]}: its bias candidates v·φ(c) are not the product law it counts; "
            "give rho (--rho)")


def longest_pool(spec, rho: int, rho_in: int | None = None) -> int:
    """The most candidates one pool can hold: ρ (and ρ_in for the first layer of L+1); half
    of it for mirror pairs, whose pool is the ρ/2 neurons with u > 0 (c > 0) of a block."""
    widest = max(int(rho), int(rho_in or rho))
    return widest // 2 if spec.mirror_pairs else widest


def guarantee_holds(spec, rho: int, rho_in: int | None = None) -> bool:
    """Whether the width theorem's P(any failure) ≤ δ is about the search that is run: no
    pool can be longer than the exhaustively searched prefix (MAX_SEARCHED), so every subset
    it counts is searched. Wider bounded-gain copy pools do not count as searched: the
    cardinality search looks only at their subsets of ≤ MAX_CARD_SIZE copies."""
    return longest_pool(spec, rho, rho_in) <= MAX_SEARCHED


def counting_refusal(target, eps_param: float) -> str | None:
    """Why no ρ can make the a-priori guarantee true under the cap, or None.

    Every instance searches at most m = MAX_SEARCHED values exhaustively, so it reaches at
    most 2^m subset sums — or, a bounded-gain copy pool searched by cardinality, at most
    Σ_{k≤MAX_CARD_SIZE} C(MAX_SEARCHED_CARD, k) ≤ 2^m of them (≈ 3.2·10¹⁰ ≤ 1.1·10¹² for 80
    candidates and 8; tests/test_rss_cardinality.py)
    — and the targets within ε' of one of them have total length ≤ 2^m·2ε'. When that is
    < 2z (z the largest |w| or |b| of the target), some target in [−z, z] is out of reach for
    any draw and any ρ. Exact (Fraction) comparison."""
    z = max([float(abs(w).max()) for w in target.weights]
            + [float(abs(b).max()) for b in target.biases])
    covered = Fraction(2) ** MAX_SEARCHED * 2 * Fraction(float(eps_param))
    if covered >= 2 * Fraction(z):
        return None
    return (f"ε' = {eps_param:g} is below what the search can reach: it takes at most "
            f"{MAX_SEARCHED} candidates per instance (construct.common.MAX_SEARCHED), whose "
            f"2^{MAX_SEARCHED} subset sums come within ε' of at most "
            f"2^{MAX_SEARCHED}·2ε' = {float(covered):.3g} of the targets' range [−{z:.3g}, "
            f"{z:.3g}], so no ρ makes P(any failure) ≤ δ true; give a larger ε', or --rho R "
            "(no a-priori guarantee; failures are reported)")


def selection_notes(spec, metadata) -> tuple[str, ...]:
    """How the ticket's widths were chosen, as the certificate's notes say it (a reader of
    "the source is drawn before the target is seen" would assume the widths were fixed too).

    From the metadata fields ``rho_source``, ``rho``, ``layout`` (ρ_in), ``delta`` and
    ``widening``; ``spec`` is the construction's BoundSpec."""
    notes = []
    rho = int(metadata["rho"])
    layout = metadata.get("layout")
    rho_in = layout.get("rho_in") if isinstance(layout, dict) else None
    if metadata.get("rho_source") == "a_priori":
        notes.append(
            f"widths chosen after seeing the target's norms: ρ = {rho} is the width theorem's "
            "for this target's largest |w| and |b| and its instance count (the source values "
            "are then drawn from the widths and the seed alone)")
        if not guarantee_holds(spec, rho, rho_in):
            notes.append(
                f"P(any failure) ≤ δ = {metadata.get('delta')} is not proven for this ticket: "
                f"the width theorem counts pools of up to {longest_pool(spec, rho, rho_in)} "
                f"candidates, the search takes the first {MAX_SEARCHED} "
                "(construct.common.MAX_SEARCHED); failed instances are reported")
    widening = metadata.get("widening")
    if isinstance(widening, dict) and int(widening.get("rounds", 0)) > 0:
        added = sum(int(entry[2]) for entry in widening.get("added", ()))
        notes.append(
            f"widths chosen after seeing failures: widening added {added} neurons in "
            f"{int(widening['rounds'])} round(s) to the blocks whose instances failed (new "
            "neurons drawn after the source, from the seed's own stream)")
    return tuple(notes)
