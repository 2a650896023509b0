"""The zero-bias baseline (THEORY.md §4.4; proofs/zero-bias-floor.md): the 2L construction on
a source whose biases are all 0.

No neuron can be a constant, so the source has no constant blocks (widths ρ·n_{l−1}) and
every target bias |b| > ε' is an instance with no candidates, recorded as failed with error
|b|; the a-priori bound carries the dropped biases (c_l = ε' k_l B_{l−1} + b̄_l), so it does
not vanish as ε' → 0. The machinery is :mod:`lotteryproofs.construct.two_layer`'s.
"""

from __future__ import annotations

from lotteryproofs.bound_spec import BoundSpec
from lotteryproofs.construct import two_layer
from lotteryproofs.construct.base import BuildInput, Built


def source_widths(target_widths, rho: int):
    """[n_0, ρ n_0, n_1, …, ρ n_{L−1}, n_L]: the 2L widths without constant blocks."""
    return two_layer.source_widths(target_widths, rho, constants=False)


def _build(inp: BuildInput) -> Built:
    owners = two_layer.regular_layout(inp.target.widths, inp.rho, constants=False)
    return two_layer.solve_pair_layers(inp, owners, zero_bias=True)


CONSTRUCTION = two_layer.pair_construction(
    "zero-bias", "zero biases",
    "§4.4 the 2L construction on a zero-bias source: target biases dropped",
    widths=source_widths, build=_build, default_init="uniform",
    bound=BoundSpec("zero-bias", biases=False), init_suffix="-zero-bias",
    owners=lambda target_widths, rho: two_layer.regular_layout(target_widths, rho,
                                                               constants=False))
