"""Random source networks: initialisation schemes with nonzero biases (THEORY.md §1–2).

Every scheme is drawn **at unit scale first** and then scaled, which is the scaling lemma used
as an algorithm (THEORY.md §1, proofs/scaling-lemma.md). With per-layer weight scales σ_l the
source network is

    W_l = σ_l · W̃_l,        b_l = (Π_{k≤l} σ_k) · b̃_l,

and the unit-scale network g = (W̃_l, b̃_l) satisfies f = Λ·g with Λ = Π_l σ_l, exactly in
real arithmetic and for every masked subnetwork (masks commute with the scaling).

Laws. D_w is ``normal`` (N(0, 1)) or ``uniform`` (U[-1, 1]); the bias law D_b is *the same
family* as D_w (N(0, 1) or U[-1, 1]), so that at unit scale weights and biases are i.i.d. draws
of one law — the shape the random-subset-sum constructions need. He scales: σ_l =
√(2 / (Var D_w · n_{l−1})), i.e. √(2/n_{l−1}) for normal and √(6/n_{l−1}) for uniform weights
(:func:`he_layer_scales`).

Schemes (:data:`SCHEMES`, looked up by name in :func:`draw_network`):

``uniform``, ``normal``
    W̃_l ~ D_w i.i.d.; b̃_l ~ β·D_b i.i.d. (``bias_factor`` β ≥ 0, default 1). With the
    default ``bias_rule="product"`` this is THEORY.md §1's b_l ~ β (Π_{k≤l} σ_k) D_b;
    ``bias_rule="constant"`` gives b_l ~ β·D_b in every layer (the comparison of the
    signal-propagation measurement, :mod:`lotteryproofs.signal`). ``weight_scale="unit"``
    (default ``"he"``) sets every σ_l = 1: W_l ~ D_w, b_l ~ β·D_b, the source *is* its
    unit-scale form. For networks whose activations are not positively homogeneous there is
    no scaling lemma, so masks are chosen on the actual values; the He factor would shrink
    every subset-sum candidate by √(6/n) (proofs/l-plus-one-general.md, "Source scale").
    Note: under He scales the product rule makes the biases' share of the forward signal
    fall by ≈ σ_l² per layer (proofs/signal-propagation.md); its purpose is the unit-scale
    form, not balance.
``uniform-zero-bias``, ``normal-zero-bias``
    The controls: the same weights, every bias 0 (THEORY.md §4.4).
``looks-linear``
    THEORY.md §2. Hidden widths must be even, n_l = 2 m_l (every neuron has a mirror twin).
    From blocks W₀^{(l)} (m_l × m_{l−1}, with m_0 = n_0 and m_L = n_L) and b₀^{(l)}:

        layer 1 (L ≥ 2):      W = [W₀; −W₀]                 b = [b₀; −b₀]
        layers 2 … L−1:       W = [[W₀, −W₀], [−W₀, W₀]]    b = [b₀; −b₀]
        output layer L ≥ 2:   W = [W₀, −W₀]                 b = b₀
        depth L = 1:          W = W₀                        b = b₀

    Then hidden layer l outputs [σ(h_l); σ(−h_l)] with h_l = W₀^{(l)} h_{l−1} + b₀^{(l)},
    h_0 = x, and f(x) = h_L: an affine map (proofs/looks-linear.md). Options: ``law``
    (``"uniform"`` by default, D_w = D_b), ``bias_factor`` β (default 1),
    ``weights="iid"`` (W̃₀ ~ D_w) or ``"orthogonal"`` (W̃₀ = √(Var D_w · m_{l−1})·U Vᵀ for the
    SVD G = U S Vᵀ of a Gaussian m_l × m_{l−1} matrix — when m_l ≤ m_{l−1} every row has the
    i.i.d. block's expected squared norm; all singular values equal that factor); ``biases="zero"``,
    ``"independent"`` (b̃₀ ~ β·D_b) or ``"dependent"``: layers are grouped (1, 2), (3, 4), …
    (the last group is the triple (L−2, L−1, L) when L is odd); the first layers of a group
    get b̃₀ ~ β·D_b and the group's last layer gets b̃₀ = −W̃₀·c, where c is the offset the
    group has accumulated (c = b̃₀ of the odd layer for a pair), so each group — hence the
    network — is exactly linear while every bias is nonzero almost surely. Needs L ≥ 2.
    The layer scales σ_l are the He scales of the full source widths, so the twin doubling
    makes σ_l² = 1/m_{l−1} for normal hidden layers: the linear signal h keeps its norm.

Streams (THEORY.md §10, proofs/lazy-source.md). A source is a function of (scheme, widths,
options, seed): :class:`SourceSpec`. Every unit-scale weight matrix is cut into tiles of
:data:`TILE` × :data:`TILE` entries and every bias vector into runs of :data:`TILE`; tile
(tr, tc) of kind k (0 weight, 1 bias) of layer l is drawn by the law's one sampler from its own
counter-based stream, numpy's Philox with the seed's 128-bit key and the counter
(0, tc, tr, 2l + k). Tiles never share counter values, so any tile can be drawn alone, in any
order, in any process, with the bytes it has in the fully drawn source; nothing in a key
depends on a target. :func:`draw_source` draws every tile (its key drawn from the given rng);
a construction draws only the tiles it reads (:class:`LazyUnitMatrix`).

The constructions use :func:`draw_source`, which returns the He-scaled network *and* the
unit-scale network, the layer scales and Λ in one :class:`SourceDraw`. :func:`unit_scale` and
:func:`from_unit_scale` convert any network given its layer scales.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import numbers
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.laws import from_words as _from_words
from lotteryproofs.laws import get_law as _get_law
from lotteryproofs.laws import sample as _sample_law
from lotteryproofs.layers import Dense
from lotteryproofs.network import Network

#: Weight/bias laws D by name and their variances (the samplers are lotteryproofs.laws'). D_b
#: is D_w's family.
LAW_VARIANCES: Mapping[str, float] = MappingProxyType({"normal": 1.0, "uniform": 1.0 / 3.0})


def _check_law(law) -> str:
    if law not in LAW_VARIANCES:
        raise _validate.InputError(
            f"unknown law {law!r}; known laws: {', '.join(sorted(LAW_VARIANCES))}"
        )
    return law


# --------------------------------------------------------------------------- scales
def he_layer_scales(widths: Sequence[int], law: str) -> tuple[float, ...]:
    """He weight scales σ_l = √(2 / (Var D_w · n_{l−1})), l = 1 … L (THEORY.md §1).

    √(2/n_{l−1}) for ``law="normal"``, √(6/n_{l−1}) for ``law="uniform"``.
    """
    widths = _validate.widths("widths", widths)
    variance = LAW_VARIANCES[_check_law(law)]
    return tuple(math.sqrt(2.0 / (variance * n_in)) for n_in in widths[:-1])


def source_layer_scales(widths: Sequence[int], options: Mapping) -> tuple[float, ...]:
    """σ_l of a scheme with resolved ``options``: :func:`he_layer_scales` of the law, or all 1
    for ``weight_scale="unit"`` (i.i.d. schemes; the others have no such option)."""
    if options.get("weight_scale", "he") == "unit":
        return (1.0,) * (len(widths) - 1)
    return he_layer_scales(widths, options["law"])


def _layer_scales(network: Network, layer_scales) -> tuple[float, ...]:
    scales = tuple(layer_scales)
    if len(scales) != network.depth:
        raise _validate.InputError(
            f"need one layer scale per layer: the network has {network.depth} layers, got "
            f"{len(scales)} scales"
        )
    return tuple(_validate.positive(f"layer_scales[{i}]", s) for i, s in enumerate(scales))


def _resolve_scales(network: Network, layer_scales, law) -> tuple[float, ...]:
    if (layer_scales is None) == (law is None):
        raise _validate.InputError("give exactly one of layer_scales and law")
    if law is not None:
        return he_layer_scales(network.widths, law)
    return _layer_scales(network, layer_scales)


def unit_scale(network: Network, layer_scales: Sequence[float] | None = None, *,
               law: str | None = None) -> tuple[Network, float]:
    """(g, Λ) with f = Λ·g: the unit-scale network of the scaling lemma (THEORY.md §1).

    g has weights W_l / σ_l and biases b_l / Π_{k≤l} σ_k; Λ = Π_l σ_l. Pass the layer scales
    σ_l, or ``law="normal"|"uniform"`` for the He scales of the network's widths. The identity
    f(x) = Λ·g(x) holds in real arithmetic for *any* network and any positive scales, and for
    every masked subnetwork (proofs/scaling-lemma.md); the product rule is what makes g's
    parameters i.i.d. unit-scale draws. In floating point it holds to rounding.
    """
    scales = _resolve_scales(network, layer_scales, law)
    cumulative = np.cumprod(scales)
    layers = []
    for i, (w, b, s, c) in enumerate(zip(network.weights, network.biases, scales, cumulative,
                                         strict=True)):
        # the quotients are fresh arrays: checked and frozen in place, not copied again by
        # Network's validation (a large ticket's support would be held twice at once)
        w = _validate.finite_array(f"layer {i} weight", w / s, ndim=2)
        b = _validate.finite_array(f"layer {i} bias", b / c, ndim=1)
        w.setflags(write=False)
        b.setflags(write=False)
        layers.append(Dense.trusted(w, b))
    return Network.from_layers(layers), math.prod(scales)


def from_unit_scale(unit_network: Network, layer_scales: Sequence[float]) -> Network:
    """The inverse of :func:`unit_scale`: W_l = σ_l W̃_l, b_l = (Π_{k≤l} σ_k) b̃_l."""
    scales = _layer_scales(unit_network, layer_scales)
    cumulative = np.cumprod(scales)
    return Network(
        tuple(s * w for w, s in zip(unit_network.weights, scales, strict=True)),
        tuple(c * b for b, c in zip(unit_network.biases, cumulative, strict=True)),
    )


# --------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class SourceDraw:
    """One draw of a scheme: the source network and its unit-scale form.

    ``network == from_unit_scale(unit_network, layer_scales)`` exactly (it is computed that
    way); ``scale`` is Λ = Π σ_l, so network(x) = Λ·unit_network(x) to rounding, and the same
    for every common mask of the two.
    """

    scheme: str
    options: Mapping
    network: Network
    unit_network: Network
    layer_scales: tuple[float, ...]

    @property
    def scale(self) -> float:
        """Λ = Π_l σ_l."""
        return math.prod(self.layer_scales)

    @property
    def source(self) -> Network:
        """What a ticket holds as its source: the drawn network itself."""
        return self.network


@dataclass(frozen=True)
class Scheme:
    """A named initialisation scheme.

    ``defaults`` are the user options with their defaults, ``choices`` the allowed values of
    the non-numeric ones (``bias_factor`` is any β ≥ 0), ``fixed`` settings the name implies.
    ``draw_unit(widths, streams, options) -> (unit_network, layer_scales)`` draws at unit
    scale from the source's :class:`Streams`; ``tiled`` says that every parameter is its
    tile's own draw (the i.i.d. schemes), so a tile can be drawn without the rest.
    """

    name: str
    summary: str
    defaults: Mapping
    choices: Mapping
    draw_unit: Callable = field(repr=False)
    fixed: Mapping = field(default_factory=lambda: MappingProxyType({}))
    tiled: bool = False


# --------------------------------------------------------------------------- streams
#: Side of a weight tile (and length of a bias run): the unit of drawing (proofs/lazy-source.md).
TILE = 64
#: Positions up to this many per call are drawn by numpy's Philox arithmetic
#: (:mod:`lotteryproofs.philox_words`: milliseconds, no compiled code to load), more by the
#: compiled pass (:mod:`lotteryproofs.philox`); both give the same words.
NUMPY_WORDS = 1 << 16
#: Stream kinds: the last counter word of tile (tr, tc) of layer l is 2l + kind.
WEIGHT, BIAS = 0, 1


def _tiles(n: int) -> int:
    return -(-n // TILE)


@dataclass(frozen=True)
class Streams:
    """The counter-based streams of one source: one 128-bit Philox key for all its tiles.

    Tile (tr, tc) of kind k of layer l is drawn from Philox(key, counter=(0, tc, tr, 2l + k));
    a tile needs ⌈TILE²/4⌉ counter increments of the lowest word, so no two tiles ever share a
    counter value and every tile is a stream of its own (proofs/lazy-source.md).
    """

    key: tuple[int, int]

    @classmethod
    def from_seed(cls, entropy, spawn_key: Sequence[int] = ()) -> Streams:
        """The key is the first 128 bits SeedSequence(entropy, spawn_key) generates."""
        words = np.random.SeedSequence(entropy, spawn_key=tuple(spawn_key)).generate_state(
            2, np.uint64)
        return cls((int(words[0]), int(words[1])))

    def generator(self, layer: int, kind: int, tr: int, tc: int = 0) -> np.random.Generator:
        counter = np.array([0, tc, tr, 2 * layer + kind], dtype=np.uint64)
        return np.random.Generator(
            np.random.Philox(key=np.array(self.key, dtype=np.uint64), counter=counter))

    def _draw(self, law: str, layer: int, kind: int, tr: int, tc: int, shape) -> np.ndarray:
        """``law``'s sampler on the stream of tile (tr, tc): one reused Philox whose state is
        set to (key, counter (0, tc, tr, 2l + k), empty buffer) — exactly the state
        :meth:`generator` constructs, without a fresh bit generator (and its OS entropy
        read) per tile. The lock makes set-state-then-draw atomic across threads."""
        local = self.__dict__.get("_reused")
        if local is None:
            bitgen = np.random.Philox(key=np.array(self.key, dtype=np.uint64))
            local = (bitgen, np.random.Generator(bitgen), threading.Lock(),
                     np.array(self.key, dtype=np.uint64))
            object.__setattr__(self, "_reused", local)
        bitgen, gen, lock, key = local
        with lock:
            bitgen.state = {
                "bit_generator": "Philox",
                "state": {"counter": np.array([0, tc, tr, 2 * layer + kind], dtype=np.uint64),
                          "key": key},
                "buffer": np.zeros(4, np.uint64), "buffer_pos": 4, "has_uint32": 0,
                "uinteger": 0}
            return _sample_law(law, gen, shape)

    def weight_tile(self, law: str, shape, layer: int, tr: int, tc: int) -> np.ndarray:
        """Tile (tr, tc) of the unit-scale draws of a (rows, cols) matrix of ``law``."""
        rows, cols = shape
        tile = (min(TILE, rows - tr * TILE), min(TILE, cols - tc * TILE))
        return self._draw(law, layer, WEIGHT, tr, tc, tile)

    def weight_values(self, law: str, shape, layer: int, rows, cols) -> np.ndarray | None:
        """The unit-scale draws at (rows[m], cols[m]) of a (rows, cols) matrix of ``law``,
        each computed from its own Philox word — entry (r, c) of tile (tr, tc) is value
        r·w + c of the tile's stream (w the tile's width), i.e. word r·w + c for a law that
        uses one word per value (:attr:`lotteryproofs.laws.Law.from_words`): the bytes
        :meth:`weight_tile` gives there, with no other word drawn. None for the other laws
        (proofs/lazy-source.md, "Values computed at their position")."""
        if _get_law(law).from_words is None:
            return None
        rows, cols = np.broadcast_arrays(np.asarray(rows, np.int64), np.asarray(cols, np.int64))
        n_rows, n_cols = shape
        if rows.size and (rows.min() < 0 or cols.min() < 0 or rows.max() >= n_rows
                          or cols.max() >= n_cols):
            raise IndexError(f"a position lies outside the {n_rows} x {n_cols} matrix")
        tr, tc = rows // TILE, cols // TILE
        width = np.minimum(TILE, n_cols - tc * TILE)
        index = (rows - tr * TILE) * width + (cols - tc * TILE)
        if index.size <= NUMPY_WORDS:  # the same words without numba's start-up
            from lotteryproofs import philox_words as words_module
        else:
            from lotteryproofs import philox as words_module
        words = words_module.words_at(self.key, tc, tr, 2 * layer + WEIGHT, index)
        return _from_words(law, words)

    def weight_band(self, law: str, shape, layer: int, tr: int) -> np.ndarray | None:
        """Tile row tr of the unit-scale draws of a (rows, cols) matrix of ``law``, computed
        from the Philox words of its tiles (:func:`lotteryproofs.philox.tile_row_words`, one
        compiled pass, no generator state set per tile): entry (r, c) of tile (tr, tc) is
        value r·w + c of the tile's stream, the bytes :meth:`weight_tile` gives there. None
        for a law that is not drawn word by word (proofs/lazy-source.md)."""
        if _get_law(law).from_words is None:
            return None
        from lotteryproofs import philox

        rows, cols = shape
        words = philox.tile_row_words(self.key, tr, 2 * layer + WEIGHT, TILE,
                                      min(TILE, rows - tr * TILE), cols)
        return _from_words(law, words)

    def bias_run(self, law: str, n: int, layer: int, tr: int) -> np.ndarray:
        return self._draw(law, layer, BIAS, tr, 0, min(TILE, n - tr * TILE))

    def matrix(self, law: str, shape, layer: int) -> np.ndarray:
        """Every tile of a (rows, cols) matrix, assembled."""
        rows, cols = shape
        out = np.empty(shape)
        for tr in range(_tiles(rows)):
            for tc in range(_tiles(cols)):
                out[tr * TILE:(tr + 1) * TILE, tc * TILE:(tc + 1) * TILE] = self.weight_tile(
                    law, shape, layer, tr, tc)
        return out

    def vector(self, law: str, n: int, layer: int) -> np.ndarray:
        parts = [self.bias_run(law, n, layer, tr) for tr in range(_tiles(n))]
        return np.concatenate(parts) if parts else np.zeros(0)


# --------------------------------------------------------------------------- i.i.d. schemes
def _iid_bias(options, unit_draw: np.ndarray, cumulative: float) -> np.ndarray:
    if options["bias_rule"] == "zero":
        return np.zeros(unit_draw.shape)
    bias = options["bias_factor"] * unit_draw
    # constant rule: b_l = β D_b in the source, so b̃_l = β D_b / Π_{k≤l} σ_k at unit scale
    return bias if options["bias_rule"] == "product" else bias / cumulative


def _draw_iid(widths, streams: Streams, options):
    law = options["law"]
    scales = source_layer_scales(widths, options)
    cumulative = np.cumprod(scales)
    weights, biases = [], []
    for layer, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        weights.append(streams.matrix(law, (n_out, n_in), layer))
        draws = (np.zeros(n_out) if options["bias_rule"] == "zero"
                 else streams.vector(law, n_out, layer))
        biases.append(_iid_bias(options, draws, cumulative[layer]))
    return Network(tuple(weights), tuple(biases)), scales


# --------------------------------------------------------------------------- looks-linear
def _ll_block_shapes(widths) -> list[tuple[int, int]]:
    """(rows, cols) of W₀^{(l)}: the linear signal has width m_l = n_l / 2 in hidden layers."""
    depth = len(widths) - 1
    for layer in range(1, depth):
        if widths[layer] % 2:
            raise _validate.InputError(
                f"looks-linear needs even hidden widths (each neuron has a mirror twin); "
                f"widths[{layer}] = {widths[layer]} is odd"
            )
    m = [widths[0]] + [w // 2 for w in widths[1:-1]] + [widths[-1]]
    return [(m[k + 1], m[k]) for k in range(depth)]


def _ll_weight_block(law, kind, streams: Streams, shape, layer: int) -> np.ndarray:
    if kind == "iid":
        return streams.matrix(law, shape, layer)
    gaussian = streams.matrix("normal", shape, layer)
    u, _, vt = np.linalg.svd(gaussian, full_matrices=False)
    # U Vᵀ is the polar factor: all singular values 1, independent of the SVD's sign choices
    return math.sqrt(LAW_VARIANCES[law] * shape[1]) * (u @ vt)


def _ll_groups(depth: int) -> list[list[int]]:
    groups = [[k, k + 1] for k in range(0, depth - 1, 2)]
    if depth % 2:
        groups[-1].append(depth - 1)
    return groups


def _ll_bias_blocks(options, streams: Streams, blocks) -> list[np.ndarray]:
    law, beta, kind = options["law"], options["bias_factor"], options["biases"]
    depth = len(blocks)
    if kind == "zero":
        return [np.zeros(w.shape[0]) for w in blocks]
    if kind == "independent":
        return [beta * streams.vector(law, w.shape[0], k) for k, w in enumerate(blocks)]
    if depth < 2:
        raise _validate.InputError(
            "looks-linear with dependent biases needs depth >= 2 (at least 3 widths): a single "
            "affine layer is linear only with zero bias"
        )
    out: list[np.ndarray] = [np.empty(0)] * depth
    for group in _ll_groups(depth):
        offset = np.zeros(blocks[group[0]].shape[1])
        for k in group[:-1]:
            out[k] = beta * streams.vector(law, blocks[k].shape[0], k)
            offset = blocks[k] @ offset + out[k]
        out[group[-1]] = -(blocks[group[-1]] @ offset)
    return out


def looks_linear_layers(weight_blocks: Sequence[np.ndarray], bias_blocks: Sequence[np.ndarray]
                        ) -> Network:
    """Assemble the looks-linear network from blocks W₀^{(l)}, b₀^{(l)} (THEORY.md §2; the
    layout is in this module's docstring)."""
    depth = len(weight_blocks)
    layers = [_ll_layer(w0, b0, k == 0, k == depth - 1)
              for k, (w0, b0) in enumerate(zip(weight_blocks, bias_blocks, strict=True))]
    return Network(tuple(w for w, _ in layers), tuple(b for _, b in layers))


def _ll_layer(w0, b0, first: bool, last: bool) -> tuple[np.ndarray, np.ndarray]:
    if first and last:
        return w0, b0
    if first:
        return np.vstack([w0, -w0]), np.concatenate([b0, -b0])
    if last:
        return np.hstack([w0, -w0]), b0
    return np.block([[w0, -w0], [-w0, w0]]), np.concatenate([b0, -b0])


def looks_linear_blocks(network: Network) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """The blocks (W₀^{(l)}, b₀^{(l)}) of a looks-linear network: the inverse of
    :func:`looks_linear_layers`. Refuses, naming the layer, a network whose parameters are not
    exactly mirrored (so a caller learns the structure holds before relying on it)."""
    depth = network.depth
    _ll_block_shapes(network.widths)
    weight_blocks, bias_blocks = [], []
    for k, (w, b) in enumerate(zip(network.weights, network.biases, strict=True)):
        rows = w.shape[0] // 2 if k < depth - 1 else w.shape[0]
        cols = w.shape[1] // 2 if k > 0 else w.shape[1]
        w0, b0 = w[:rows, :cols], b[:rows]
        mirrored_w, mirrored_b = _ll_layer(w0, b0, k == 0, k == depth - 1)
        if not (np.array_equal(w, mirrored_w) and np.array_equal(b, mirrored_b)):
            raise _validate.InputError(f"layer {k} is not mirrored as looks-linear requires")
        weight_blocks.append(w0)
        bias_blocks.append(b0)
    return tuple(weight_blocks), tuple(bias_blocks)


def _draw_looks_linear(widths, streams: Streams, options):
    shapes = _ll_block_shapes(widths)
    blocks = [_ll_weight_block(options["law"], options["weights"], streams, s, k)
              for k, s in enumerate(shapes)]
    bias_blocks = _ll_bias_blocks(options, streams, blocks)
    return looks_linear_layers(blocks, bias_blocks), he_layer_scales(widths, options["law"])


# --------------------------------------------------------------------------- registry
_LAWS = tuple(sorted(LAW_VARIANCES))


def _iid_scheme(law: str, zero_bias: bool) -> Scheme:
    if zero_bias:
        return Scheme(
            name=f"{law}-zero-bias",
            summary=f"He-scaled {law} weights, every bias 0 (the control)",
            defaults=MappingProxyType({}),
            choices=MappingProxyType({}),
            draw_unit=_draw_iid,
            fixed=MappingProxyType({"law": law, "bias_rule": "zero", "bias_factor": 0.0}),
            tiled=True,
        )
    return Scheme(
        name=law,
        summary=f"He-scaled {law} weights, {law} biases b_l ~ β·Π_{{k≤l}} σ_k·D_b",
        defaults=MappingProxyType({"bias_rule": "product", "bias_factor": 1.0,
                                   "weight_scale": "he"}),
        choices=MappingProxyType({"bias_rule": ("product", "constant"),
                                  "weight_scale": ("he", "unit")}),
        draw_unit=_draw_iid,
        fixed=MappingProxyType({"law": law}),
        tiled=True,
    )


#: name → :class:`Scheme`. Options a scheme does not list in ``defaults`` are refused; the
#: zero-bias controls take no options.
SCHEMES: Mapping[str, Scheme] = MappingProxyType({
    "uniform": _iid_scheme("uniform", False),
    "normal": _iid_scheme("normal", False),
    "uniform-zero-bias": _iid_scheme("uniform", True),
    "normal-zero-bias": _iid_scheme("normal", True),
    "looks-linear": Scheme(
        name="looks-linear",
        summary="mirrored blocks [W₀, −W₀] (THEORY.md §2): affine at initialisation",
        defaults=MappingProxyType({"law": "uniform", "weights": "iid", "biases": "independent",
                                   "bias_factor": 1.0}),
        choices=MappingProxyType({"law": _LAWS, "weights": ("iid", "orthogonal"),
                                  "biases": ("zero", "independent", "dependent")}),
        draw_unit=_draw_looks_linear,
    ),
})


def scheme_names() -> list[str]:
    return sorted(SCHEMES)


def _resolve_options(scheme: Scheme, options: Mapping) -> dict:
    unknown = sorted(set(options) - set(scheme.defaults))
    if unknown:
        allowed = ", ".join(sorted(scheme.defaults)) or "none"
        raise _validate.InputError(
            f"scheme {scheme.name!r} got unknown option(s) {unknown}; its options are: {allowed}"
        )
    resolved = {**scheme.defaults, **scheme.fixed}
    for name, value in options.items():
        if name == "bias_factor":
            value = _validate.non_negative("bias_factor (β)", value)
        elif value not in scheme.choices[name]:
            raise _validate.InputError(
                f"scheme {scheme.name!r}: option {name} must be one of "
                f"{', '.join(map(str, scheme.choices[name]))}; got {value!r}"
            )
        resolved[name] = value
    return resolved


def _check_scheme(scheme) -> Scheme:
    if scheme not in SCHEMES:
        raise _validate.InputError(
            f"unknown initialisation scheme {scheme!r}; known schemes: {', '.join(scheme_names())}"
        )
    return SCHEMES[scheme]


def _json_ints(value):
    return int(value) if isinstance(value, numbers.Integral) else [int(v) for v in value]


@dataclass(frozen=True, eq=False)
class SourceSpec:
    """A source as a function of (scheme, widths, options, seed): nothing is drawn until asked.

    ``options`` are the scheme's resolved options, ``entropy``/``spawn_key`` the SeedSequence
    that keys the streams (module docstring, "Streams"). :meth:`network` draws the whole
    source; for a ``tiled`` scheme :meth:`weight_tile` draws one tile of it (the same bytes),
    :meth:`values_at` the source values at given positions, and :meth:`sha256` hashes the
    source band by band without holding it (equal to network_sha256 of :meth:`network`).
    """

    scheme: str
    widths: tuple[int, ...]
    options: Mapping
    entropy: object
    spawn_key: tuple[int, ...] = ()

    @classmethod
    def make(cls, scheme: str, widths: Sequence[int], *, entropy, spawn_key=(),
             **options) -> SourceSpec:
        spec = _check_scheme(scheme)
        widths = tuple(int(n) for n in _validate.widths("widths", widths))
        resolved = _resolve_options(spec, options)
        if spec.name == "looks-linear":
            _ll_block_shapes(widths)
        return cls(scheme, widths, MappingProxyType(resolved), _json_ints(entropy),
                   tuple(int(k) for k in spawn_key))

    @property
    def tiled(self) -> bool:
        return SCHEMES[self.scheme].tiled

    @property
    def streams(self) -> Streams:
        return Streams.from_seed(self.entropy, self.spawn_key)

    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    @property
    def n_params(self) -> int:
        return sum(a * b + b for a, b in zip(self.widths[:-1], self.widths[1:], strict=True))

    @functools.cached_property
    def layer_scales(self) -> tuple[float, ...]:
        return source_layer_scales(self.widths, self.options)

    def shape(self, layer: int) -> tuple[int, int]:
        return (self.widths[layer + 1], self.widths[layer])

    # ------------------------------------------------------------------ whole source
    def unit_network(self) -> Network:
        unit, _ = SCHEMES[self.scheme].draw_unit(self.widths, self.streams, self.options)
        return unit

    def draw(self) -> SourceDraw:
        unit = self.unit_network()
        scales = self.layer_scales
        return SourceDraw(self.scheme, self.options, from_unit_scale(unit, scales), unit, scales)

    def network(self) -> Network:
        return self.draw().network

    # ------------------------------------------------------------------ tiles (tiled schemes)
    @functools.cached_property
    def _cumulative(self) -> np.ndarray:
        return np.cumprod(self.layer_scales)

    def weight_tile(self, layer: int, tr: int, tc: int, streams: Streams | None = None
                    ) -> np.ndarray:
        """Tile (tr, tc) of the He-scaled weight matrix of ``layer``: σ_l·W̃ on the tile."""
        self._require_tiled()
        streams = streams or self.streams
        unit = streams.weight_tile(self.options["law"], self.shape(layer), layer, tr, tc)
        return self.layer_scales[layer] * unit

    def biases(self, layer: int, streams: Streams | None = None) -> np.ndarray:
        """The He-scaled bias vector of ``layer`` (every run: biases are few)."""
        self._require_tiled()
        streams = streams or self.streams
        n = self.widths[layer + 1]
        cumulative = self._cumulative
        draws = (np.zeros(n) if self.options["bias_rule"] == "zero"
                 else streams.vector(self.options["law"], n, layer))
        return cumulative[layer] * _iid_bias(self.options, draws, cumulative[layer])

    def weight_band(self, layer: int, tr: int, streams: Streams | None = None, *,
                    out: np.ndarray | None = None) -> np.ndarray:
        """Rows tr·TILE … of the He-scaled weight matrix: the tiles of one tile row.

        The uniform law's band is computed in one compiled pass (words, law and scale fused:
        :func:`lotteryproofs.philox.tile_row_uniform`, the same bytes), into ``out`` when
        given (a (TILE, n_in) float64 buffer reused band after band); ``out`` is ignored by
        the other laws."""
        streams = streams or self.streams
        if self.options["law"] == "uniform":
            from lotteryproofs import philox

            rows, cols = self.shape(layer)
            return philox.tile_row_uniform(streams.key, tr, 2 * layer + WEIGHT, TILE,
                                           min(TILE, rows - tr * TILE), cols,
                                           self.layer_scales[layer], out)
        unit = streams.weight_band(self.options["law"], self.shape(layer), layer, tr)
        if unit is not None:  # σ_l·W̃ elementwise: the bytes of weight_tile, tile by tile
            return self.layer_scales[layer] * unit
        return np.hstack([self.weight_tile(layer, tr, tc, streams)
                          for tc in range(_tiles(self.widths[layer]))])

    def values_at(self, layer: int, rows, cols, streams: Streams | None = None) -> np.ndarray:
        """He-scaled weights at (rows[m], cols[m]): computed each from its own word where the
        law allows (:meth:`Streams.weight_values`), else drawing each tile they touch once;
        either way σ_l·W̃ with the bytes of :meth:`weight_tile`."""
        self._require_tiled()
        rows, cols = np.broadcast_arrays(np.asarray(rows, np.int64), np.asarray(cols, np.int64))
        streams = streams or self.streams
        unit = streams.weight_values(self.options["law"], self.shape(layer), layer, rows, cols)
        if unit is not None:
            return self.layer_scales[layer] * unit
        out = np.empty(rows.shape)
        for (tr, tc), idx in group_by_tile(rows, cols, self.widths[layer]):
            tile = self.weight_tile(layer, tr, tc, streams)
            out.flat[idx] = tile[rows.flat[idx] - tr * TILE, cols.flat[idx] - tc * TILE]
        return out

    def _require_tiled(self) -> None:
        if not self.tiled:
            raise ValueError(f"scheme {self.scheme!r} is drawn as a whole, not tile by tile")

    def sha256(self) -> str:
        """network_sha256 of the source, computed band by band (never the whole source)."""
        if not self.tiled:
            from lotteryproofs.network import network_sha256

            return network_sha256(self.network())
        digest = hashlib.sha256(json.dumps(list(self.widths)).encode())
        streams = self.streams
        for layer in range(self.depth):
            # one band buffer per layer, filled band after band (no fresh pages per band)
            buffer = np.empty((TILE, self.widths[layer]))
            for tr in range(_tiles(self.widths[layer + 1])):
                # the array's buffer itself (no bytes copy); hashlib releases the GIL on it
                band = self.weight_band(layer, tr, streams, out=buffer)
                digest.update(np.ascontiguousarray(band, dtype="<f8"))
            digest.update(np.ascontiguousarray(self.biases(layer, streams), dtype="<f8"))
        return digest.hexdigest()

    # ------------------------------------------------------------------ files
    def to_json(self) -> dict:
        return {"scheme": self.scheme, "widths": list(self.widths),
                "options": dict(sorted(self.options.items())), "entropy": self.entropy,
                "spawn_key": list(self.spawn_key), "tile": TILE, "numpy": np.__version__}

    @classmethod
    def from_json(cls, data: Mapping, origin: str = "the ticket") -> SourceSpec:
        try:
            scheme, widths, options = data["scheme"], data["widths"], dict(data["options"])
            entropy, spawn_key, tile = data["entropy"], data["spawn_key"], data["tile"]
        except (KeyError, TypeError):
            raise _validate.InputError(
                f"{origin}: its source description is incomplete (needs scheme, widths, "
                "options, entropy, spawn_key, tile)") from None
        if tile != TILE:
            raise _validate.InputError(
                f"{origin}: its source was drawn in tiles of {tile}, this version draws {TILE}")
        spec = _check_scheme(scheme)
        fixed = {k: options.pop(k) for k in list(options) if k in spec.fixed}
        if fixed != dict(spec.fixed):
            raise _validate.InputError(f"{origin}: the options {fixed} do not fit {scheme!r}")
        if not (isinstance(entropy, int) or (isinstance(entropy, list) and all(
                isinstance(e, int) and e >= 0 for e in entropy))) or isinstance(entropy, bool):
            raise _validate.InputError(f"{origin}: the source entropy must be integers")
        if not isinstance(spawn_key, list) or not all(isinstance(k, int) for k in spawn_key):
            raise _validate.InputError(f"{origin}: the source spawn_key must be integers")
        return cls.make(scheme, widths, entropy=entropy, spawn_key=spawn_key, **options)


def group_by_tile(rows: np.ndarray, cols: np.ndarray, n_cols: int):
    """((tr, tc), flat indices) for every tile that (rows, cols) touch, tiles in order."""
    per_row = _tiles(n_cols)
    keys = (rows.ravel() // TILE) * per_row + cols.ravel() // TILE
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    cuts = np.flatnonzero(np.diff(sorted_keys)) + 1
    for chunk in np.split(order, cuts) if order.size else []:
        key = int(keys[chunk[0]])
        yield (key // per_row, key % per_row), chunk


def source_seed(rng) -> tuple[object, tuple[int, ...]]:
    """(entropy, spawn_key) of the SeedSequence that keys a source's streams: an integer seed
    is the entropy, a SeedSequence gives its own, a Generator gives 128 fresh bits."""
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise _validate.InputError(f"a seed must be >= 0, got {rng}")
        return int(rng), ()
    if isinstance(rng, np.random.SeedSequence):
        return rng.entropy, tuple(int(k) for k in rng.spawn_key)
    if isinstance(rng, np.random.Generator):
        return int.from_bytes(rng.bytes(16), "little"), ()
    _validate.rng(rng)  # None and other types: the one message for a missing/invalid rng
    raise _validate.InputError(
        f"rng must be an integer seed, a SeedSequence or a Generator, got {type(rng).__name__}")


def draw_source(scheme: str, widths: Sequence[int], *, rng, **options) -> SourceDraw:
    """Draw one source network from a named scheme, with its unit-scale form and Λ.

    The streams are keyed by :func:`source_seed` of ``rng`` (so an integer seed or a
    SeedSequence gives the source ``construct`` draws for it), then every tile is drawn
    (:class:`SourceSpec`); the draw never looks at a target. Same rng state, same bytes.
    """
    spec = _check_scheme(scheme)
    widths = _validate.widths("widths", widths)
    n_params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    # peak: the drawn arrays, their read-only copies in the unit network, the scaled
    # temporaries and their copies in the source network
    _validate.fits_in_memory(4 * 8 * n_params, f"a {scheme} network of widths {list(widths)}")
    resolved = _resolve_options(spec, options)
    entropy, spawn_key = source_seed(rng)
    user = {k: v for k, v in resolved.items() if k not in spec.fixed}
    return SourceSpec.make(scheme, widths, entropy=entropy, spawn_key=spawn_key, **user).draw()


def draw_network(scheme: str, widths: Sequence[int], *, rng, **options) -> Network:
    """The source network of :func:`draw_source` (DESIGN.md, "Python API")."""
    return draw_source(scheme, widths, rng=rng, **options).network
