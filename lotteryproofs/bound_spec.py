"""What the bounds of one construction depend on: :class:`BoundSpec` (THEORY.md §4–§6).

Kept apart from bounds.py (which builds the sympy expressions) so that a construction can
declare its spec without importing sympy: the construction registry — and so every command
line start — stays cheap; bounds.py re-exports both names.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Lueker's constant as fitted in THEORY.md §3 for U[-1, 1] candidates (provisional): the
#: default of the a-priori sizing, to be replaced by the value lotteryproofs.constants measures.
DEFAULT_LUEKER_C = 4.3


@dataclass(frozen=True)
class BoundSpec:
    """What the §4–§6 bounds of one construction depend on (each construction module of
    lotteryproofs.construct instantiates one; every function of bounds.py takes it, never a
    name).

    ``biases``: target biases are represented (one RSS instance per bias over products v·c
    with a constant block; c_l = ε'(k_l B_{l−1} + 1)); False for the zero-bias baseline,
    whose biases are dropped (c_l = ε' k_l B_{l−1} + b̄_l, no constant blocks, §4.4).
    ``mirror_pairs``: looks-linear twins (§4.2): pools of ρ/2 paired values without a sign
    split, no separate negative part, hidden widths rounded up to even, ρ even.
    ``copies``: L+1 (§4.3): ρ copies of every hidden target neuron, gain k_l G_l for l ≥ 2 from
    the gain bounds G_l, the first block layer sized by its own multiplicity ρ_in.
    ``gain_budget`` (with ``copies``; bounded-gain L+1): γ > 0 such that every copy-layer
    subset has Σ_{r∈S}|v_r| ≤ |w| + γ (the RSS engine's bounded-gain mode with c = γ/ε');
    then the gain of layer l ≥ 2 is a_l + γ·k_l a priori, no G_l needed
    (proofs/bounded-gain-l+1.md).
    ``linear_first_layer`` (with ``copies``; L+1 for general activations, THEORY.md §9): the
    first source layer is linear, so block i outputs u_k·x_i exactly for either sign of x_i
    and of u_k — layer 1 has no sign split (no negative part of its own, every u_k ≠ 0 and
    every constant c_k ≠ 0 a usable candidate; proofs/l-plus-one-general.md).
    """

    name: str
    biases: bool = True
    mirror_pairs: bool = False
    copies: bool = False
    gain_budget: float | None = None
    linear_first_layer: bool = False

    @property
    def bounded_gain(self) -> bool:
        """L+1 with gain-bounded subsets (its gain bound is a closed form, not G_l)."""
        return self.copies and self.gain_budget is not None

    @property
    def has_sufficient_eps_param(self) -> bool:
        """Whether :func:`sufficient_eps_param_expr` exists: the bound vanishes as ε' → 0 and
        does not depend on ρ."""
        return self.biases and (not self.copies or self.bounded_gain)

    @property
    def needs_gains(self) -> bool:
        """Whether the a-priori bound needs the gain bounds G_l (L+1)."""
        return self.copies and not self.bounded_gain

    @property
    def rho_multiple(self) -> int:
        """ρ must be a multiple of this (2 for mirror pairs: ρ/2 pairs per block)."""
        return 2 if self.mirror_pairs else 1

    @property
    def negative_split(self) -> bool:
        """Layer 1 builds a negative part (its own instances) where inputs can be < 0: not for
        mirror pairs (the twin builds it with the positive instance) nor over a linear first
        layer (u·x is exact for either sign)."""
        return not (self.mirror_pairs or self.linear_first_layer)
