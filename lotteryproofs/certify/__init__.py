"""Certificates for a ticket, by concept (THEORY.md §5, proofs/certificate-soundness.md):

    rounding       the rounding terms of a certificate (read-back, Λ); the error model
                   itself is lotteryproofs.rounding
    bound          the certified bound: rigorous interval bounds of the target and the §5
                   recursion per neuron (fast, outward-rounded numpy; and pure mpmath.iv)
    differential   intervals of the difference ticket − target per neuron (ReluDiff)
    symbolic       affine bounds of the target and of the difference (linear relaxation)
    crown          back-substituted linear bounds of the difference (CROWN on the
                   difference network)
    observed       the observed error: sampling, sign-gradient ascent, exact recomputation
    exact          exact rational evaluation of a network and of the error at a point
    branch_bound   the exact sup in low dimension, enclosed by branch and bound
    certificate    Certificate and certify(), which puts them together

Every name below is importable from ``lotteryproofs.certify``.
"""

from .bound import (
    certified_output_error,
    certified_output_error_iv,
    max_param_errors,
    rigorous_activation_bounds,
    rigorous_preactivation_bounds,
    rigorous_preactivation_bounds_iv,
)
from .branch_bound import SupEnclosure, sup_error_branch_and_bound
from .certificate import (
    ROUNDING_RTOL,
    Certificate,
    a_priori_gains,
    certify,
    within_eps_param,
)
from .crown import crown_output_error
from .differential import differential_output_error, differential_output_error_iv
from .exact import exact_forward, exact_output_error
from .lipschitz import lipschitz_output_error
from .observed import ObservedError, observed_output_error
from .rounding import (
    UNDERFLOW,
    UNIT_ROUNDOFF,
    RoundingSlack,
    gamma_upper,
    rounding_slack,
    sum_upper,
)
from .symbolic import linear_differential_output_error

__all__ = [
    "ROUNDING_RTOL",
    "UNDERFLOW",
    "UNIT_ROUNDOFF",
    "Certificate",
    "ObservedError",
    "RoundingSlack",
    "SupEnclosure",
    "a_priori_gains",
    "certified_output_error",
    "certified_output_error_iv",
    "certify",
    "crown_output_error",
    "differential_output_error",
    "differential_output_error_iv",
    "exact_forward",
    "exact_output_error",
    "gamma_upper",
    "linear_differential_output_error",
    "max_param_errors",
    "observed_output_error",
    "lipschitz_output_error",
    "rigorous_activation_bounds",
    "rigorous_preactivation_bounds",
    "rigorous_preactivation_bounds_iv",
    "rounding_slack",
    "sum_upper",
    "sup_error_branch_and_bound",
    "within_eps_param",
]
