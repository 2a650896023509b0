"""Hypothesis strategies for lottery-ticket lemmas: networks, boxes, RSS pools, tickets.

In the manner of ``hypothesis.extra.numpy``: every strategy draws only inputs the toolkit's
own validators accept (``Network``, ``Box``, the laws of lotteryproofs.laws, ``construct``)
and shrinks towards small, simple examples — few layers, width 1, parameters 0 or round
numbers, the symmetric cube [-1, 1]^n. Edge cases are drawn on purpose: exact zeros
(``zero_fraction``), repeated values (hypothesis fills arrays with one value), boxes that
touch 0. docs/testing.md walks through a third-party property test built on them.

hypothesis is a dependency of this module only (the ``test`` extra of lotteryproofs).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

try:
    from hypothesis import reject
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
    from hypothesis.extra import numpy as hnp
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "lotteryproofs.testing.strategies needs hypothesis, which comes with the test extra: "
        "python3 -m pip install 'lotteryproofs[test]'"
    ) from exc

from lotteryproofs.network import Box, Network

__all__ = ["Pool", "TargetAndBox", "TicketCase", "boxes", "networks", "subset_sum_pools",
           "targets_and_boxes", "tickets", "BOX_KINDS", "POOL_LAWS"]

#: The kinds of input box :func:`boxes` draws (see its docstring).
BOX_KINDS = ("symmetric", "asymmetric", "non-negative")
#: Every law of lotteryproofs.laws by name (``product<k>`` represented by product3).
POOL_LAWS = ("uniform", "product", "product3", "normal", "normal-product", "sign-split",
             "looks-linear")
#: |z| ≤ this for standard normal draws: beyond it the law has mass < 1e-15.
NORMAL_CUTOFF = 8.0


# ------------------------------------------------------------------ argument helpers
def _ints(name: str, value, default: st.SearchStrategy, lo: int = 1) -> st.SearchStrategy:
    """An int, a strategy of ints, or None (the default strategy)."""
    if value is None:
        return default
    if isinstance(value, st.SearchStrategy):
        return value
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise InvalidArgument(f"{name} must be an int >= {lo} or a strategy, got {value!r}")
    return st.just(int(value))


def _range(name: str, value) -> tuple[float, float]:
    """(lo, hi) with lo < hi, both finite; a number r > 0 means (-r, r)."""
    if isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool):
        value = (-abs(float(value)), abs(float(value)))
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} must be (lo, hi) or a number, got {value!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise InvalidArgument(f"{name} needs finite lo < hi, got {value!r}")
    return lo, hi


def _fraction(name: str, value) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise InvalidArgument(f"{name} must lie in [0, 1], got {value}")
    return value


def _entries(lo: float, hi: float, zero_fraction: float) -> st.SearchStrategy:
    """One parameter: 0 with probability ``zero_fraction``, else a float in [lo, hi].

    Floats shrink towards 0 and round numbers; subnormals are excluded (tiny-magnitude
    behaviour is a lemma's own edge case, to be drawn explicitly when it matters)."""
    value = st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    if zero_fraction == 0.0:
        return value
    if lo > 0 or hi < 0:
        raise InvalidArgument(f"zero_fraction > 0 needs 0 in the weight range [{lo}, {hi}]")
    coin = st.floats(0.0, 1.0, exclude_max=True)
    return st.tuples(coin, value).map(lambda t: 0.0 if t[0] < zero_fraction else t[1])


# ------------------------------------------------------------------ networks
def networks(depth=None, widths=None, activation="relu", zero_fraction: float = 0.2,
             weight_range=(-1.0, 1.0), bias_range=None) -> st.SearchStrategy[Network]:
    """A :class:`~lotteryproofs.network.Network` (THEORY.md §0).

    ``depth`` (number of weight matrices L): an int or a strategy, default 1–3. ``widths``: a
    sequence (n_0, …, n_L) fixes the architecture (``depth`` is then ignored); an int fixes
    every width; a strategy draws each width; default 1–4. ``zero_fraction``: the chance that
    a parameter is exactly 0. ``weight_range`` / ``bias_range`` (default the weight range):
    (lo, hi) or r for (-r, r). ``activation``: the activation between layers, anything
    lotteryproofs.activations.get_activation accepts (``"relu"``, ``"identity"``,
    ``"leaky_relu:0.1"``, an Activation) or a strategy of them; None means ReLU.
    """
    activations = activation if isinstance(activation, st.SearchStrategy) else st.just(
        _activation("relu" if activation is None else activation))
    zero_fraction = _fraction("zero_fraction", zero_fraction)
    w_elements = _entries(*_range("weight_range", weight_range), zero_fraction)
    b_elements = _entries(*_range("bias_range", weight_range if bias_range is None
                                  else bias_range), zero_fraction)
    if widths is not None and not isinstance(widths, int | np.integer | st.SearchStrategy):
        fixed = tuple(int(n) for n in widths)
        if len(fixed) < 2 or min(fixed) < 1:
            raise InvalidArgument(f"widths needs >= 2 positive entries, got {widths!r}")
        shapes = st.just(fixed)
    else:
        n_layers = _ints("depth", depth, st.integers(1, 3))
        width = _ints("widths", widths, st.integers(1, 4))
        shapes = n_layers.flatmap(lambda n: st.tuples(*[width] * (n + 1)))
    return _networks(shapes, w_elements, b_elements, activations.map(_activation))


def _activation(spec):
    from lotteryproofs.activations import get_activation

    try:
        return get_activation(spec)
    except ValueError as exc:  # InputError: an unknown or malformed activation
        raise InvalidArgument(f"activation {spec!r}: {exc}") from None


@functools.lru_cache(maxsize=4096)
def _arrays(shape: tuple, elements: st.SearchStrategy) -> st.SearchStrategy:
    # one strategy object per (shape, elements): hypothesis validates each only once
    return hnp.arrays(np.float64, shape, elements=elements)


@st.composite
def _networks(draw, shapes, w_elements, b_elements, activations) -> Network:
    shape = draw(shapes)
    weights, biases = [], []
    for n_in, n_out in zip(shape[:-1], shape[1:], strict=True):
        weights.append(draw(_arrays((n_out, n_in), w_elements)))
        biases.append(draw(_arrays((n_out,), b_elements)))
    return Network(tuple(weights), tuple(biases), activation=draw(activations))


# ------------------------------------------------------------------ boxes
def boxes(dim, kinds: Sequence[str] = BOX_KINDS, magnitude: float = 2.0,
          min_width: float = 1e-3) -> st.SearchStrategy[Box]:
    """An input box [lower, upper] ⊂ R^dim (THEORY.md §0), never degenerate.

    ``kinds``: "symmetric" [-a, a], "asymmetric" [lo, hi] anywhere in [-magnitude,
    magnitude] (touching 0 from below, upper = 0, is drawn on purpose), "non-negative"
    [lo, hi] with 0 ≤ lo (lo = 0 drawn on purpose). Every coordinate has upper − lower ≥
    ``min_width`` (to one rounding); the box is a cube unless hypothesis draws per-coordinate
    bounds (the cube is the simpler example it shrinks to). ``dim``: an int or a strategy.
    """
    dims = _ints("dim", dim, st.integers(1, 4))
    kinds = tuple(kinds)
    unknown = sorted(set(kinds) - set(BOX_KINDS))
    if not kinds or unknown:
        raise InvalidArgument(f"kinds must be a non-empty subset of {BOX_KINDS}, got {kinds}")
    magnitude = float(magnitude)
    if not (np.isfinite(magnitude) and 0 < 2 * min_width < magnitude):
        raise InvalidArgument(f"need 0 < 2·min_width < magnitude, got {min_width}, {magnitude}")
    intervals = {
        "symmetric": st.one_of(st.just(1.0), st.floats(min_width / 2, magnitude)).map(
            lambda a: (-a, a)),
        "non-negative": st.one_of(st.just(0.0), st.floats(0.0, magnitude - min_width)).flatmap(
            lambda lo: st.floats(min_width, max(min_width, magnitude - lo)).map(
                lambda w: (lo, lo + w))),
        "asymmetric": st.floats(min_width, magnitude).flatmap(
            lambda w: st.one_of(st.just(-w), st.floats(-magnitude, magnitude - w)).map(
                lambda lo: (lo, lo + w))),
    }
    return _boxes(dims, st.sampled_from(kinds), intervals)


@st.composite
def _boxes(draw, dims, kinds, intervals) -> Box:
    dim, interval = draw(dims), intervals[draw(kinds)]
    per_coordinate = draw(st.booleans())
    pairs = [draw(interval) for _ in range(dim)] if per_coordinate else [draw(interval)] * dim
    # upper − lower = w up to one rounding of lo + w (w ≥ min_width ≫ ulp(magnitude))
    return Box(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))


# ------------------------------------------------------------------ RSS pools
class Pool(NamedTuple):
    """The usable candidates of one random-subset-sum instance drawn from ``n`` sources."""

    law: str
    n: int
    values: np.ndarray


@functools.lru_cache(maxsize=4096)
def _float_arrays(lo: float, hi: float, shape: tuple) -> st.SearchStrategy:
    return _arrays(shape, st.floats(lo, hi, exclude_max=lo < hi, allow_subnormal=False))


class _HypothesisGenerator(np.random.Generator):
    """A numpy Generator whose uniform and normal draws hypothesis chooses.

    Handing it to a law's own sampler (lotteryproofs.laws) keeps the law's structure — the
    products, the sign split, the mirror pairs — in exactly one place while hypothesis
    controls, and shrinks, every underlying draw. Methods it does not override fall back to a
    fixed PCG64 stream: still draws of the law, only not shrunk.
    """

    def __init__(self, draw):
        super().__init__(np.random.PCG64(0))
        self._draw = draw

    def _floats(self, lo, hi, size):
        shape = () if size is None else ((size,) if np.isscalar(size) else tuple(size))
        out = self._draw(_float_arrays(float(lo), float(hi), shape))
        return out if shape else float(out)

    def uniform(self, low=0.0, high=1.0, size=None):
        return self._floats(low, high, size)

    def random(self, size=None, dtype=np.float64, out=None):
        return self._floats(0.0, 1.0, size)

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        return self._floats(-NORMAL_CUTOFF, NORMAL_CUTOFF, size)

    def normal(self, loc=0.0, scale=1.0, size=None):
        return loc + scale * self.standard_normal(size)


@st.composite
def subset_sum_pools(draw, law=None, n=None) -> Pool:
    """The usable candidate values of one RSS instance of ``law`` (lotteryproofs.laws).

    ``law``: a name of lotteryproofs.laws (``uniform``, ``product``, ``product<k>``,
    ``normal``, ``normal-product``, ``sign-split``, ``looks-linear``) or None for any of
    :data:`POOL_LAWS`. ``n``: the number of source candidates (an int or a strategy, default
    1–12, within the brute-force oracle's reach). The values are the law's own
    ``sample_pools`` driven by hypothesis, so they are always in the law's support and in its
    pool structure (Binomial(n, 1/2) usable values for sign-split, n//2 for looks-linear); a
    pool with no usable value is not drawn (the solvers need one).
    """
    from lotteryproofs.laws import get_law

    name = draw(st.sampled_from(POOL_LAWS)) if law is None else law
    spec = get_law(name)
    minimum = 2 if spec.pool_kind == "paired" else 1
    n = draw(_ints("n", n, st.integers(minimum, 12), lo=minimum))
    batch = spec.sample_pools(_HypothesisGenerator(draw), n, 1)
    values = np.array(batch.pool(0))
    if values.size == 0:
        reject()
    values.setflags(write=False)
    return Pool(spec.name, n, values)


# ------------------------------------------------------------------ targets and tickets
class TargetAndBox(NamedTuple):
    """A target network, an input box of its input dimension, and a seed for constructions."""

    target: Network
    box: Box
    seed: int


@st.composite
def targets_and_boxes(draw, depth=None, widths=None, zero_fraction: float = 0.2,
                      weight_range=(-1.0, 1.0), kinds: Sequence[str] = BOX_KINDS
                      ) -> TargetAndBox:
    """A target from :func:`networks`, a box from :func:`boxes` and a seed (shrinks to 0)."""
    target = draw(networks(depth=depth, widths=widths, zero_fraction=zero_fraction,
                           weight_range=weight_range))
    box = draw(boxes(target.widths[0], kinds=kinds))
    return TargetAndBox(target, box, draw(st.integers(0, 2**32 - 1)))


class TicketCase(NamedTuple):
    """A constructed ticket with what it was built from.

    ``source`` is the source network redrawn independently from the construction's scheme and
    seed: pass it to ``assert_subnetwork(ticket, source=...)`` to check that the ticket lies
    inside *the* random network its seed determines, not merely inside its own copy.
    """

    ticket: object
    target: Network
    box: Box
    seed: int
    source: Network


@st.composite
def tickets(draw, method=None, eps_param: float = 0.05, rho: int = 8, depth=None, widths=None,
            zero_fraction: float = 0.2, kinds: Sequence[str] = BOX_KINDS) -> TicketCase:
    """A small, fast construction (lotteryproofs.construct.construct) on a drawn target.

    ``method``: a construction name or None for any; ``eps_param`` (ε') and ``rho`` (ρ, the
    block width, fixed so that a case takes milliseconds) go to ``construct``; the target is
    small (depth 1–2 and widths 1–3 unless told) so that shrinking stays quick.
    """
    from lotteryproofs.construct import METHODS, construct
    from lotteryproofs.init import draw_network

    name = draw(st.sampled_from(METHODS)) if method is None else method
    case = draw(targets_and_boxes(depth=st.integers(1, 2) if depth is None else depth,
                                  widths=st.integers(1, 3) if widths is None else widths,
                                  zero_fraction=zero_fraction, kinds=kinds))
    ticket = construct(case.target, name, eps_param=eps_param, delta=0.1, rng=case.seed,
                       domain=case.box, rho=rho)
    # construct draws its source first, from default_rng(seed): redraw it independently
    source = draw_network(ticket.metadata["init"], ticket.source.widths, rng=case.seed)
    return TicketCase(ticket, case.target, case.box, case.seed, source)
