"""A third-party lemma about random subset sums, tested with lotteryproofs.testing.

The lemma (proofs/negation-symmetry.md): for values v_1 … v_n and a target t, a subset S is
closest to t under v exactly when it is closest to −t under −v, with the same error, since
|−t − Σ_S (−v_i)| = |t − Σ_S v_i| for every S. :func:`closest_by_negation` solves the
negated instance with lotteryproofs and maps the answer back.
"""

from custom_lemma.negation import closest_by_negation

__all__ = ["closest_by_negation"]
