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
    signal-propagation measurement, :mod:`lotteryproofs.signal`). Note: under He scales the
    product rule makes the biases' share of the forward signal fall by ≈ σ_l² per layer
    (proofs/signal-propagation.md); its purpose is the unit-scale form, not balance.
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

The constructions use :func:`draw_source`, which returns the He-scaled network *and* the
unit-scale network, the layer scales and Λ in one :class:`SourceDraw`. :func:`unit_scale` and
:func:`from_unit_scale` convert any network given its layer scales.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.laws import sample as _sample_law
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
    g = Network(
        tuple(w / s for w, s in zip(network.weights, scales, strict=True)),
        tuple(b / c for b, c in zip(network.biases, cumulative, strict=True)),
    )
    return g, math.prod(scales)


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


@dataclass(frozen=True)
class Scheme:
    """A named initialisation scheme.

    ``defaults`` are the user options with their defaults, ``choices`` the allowed values of
    the non-numeric ones (``bias_factor`` is any β ≥ 0), ``fixed`` settings the name implies.
    ``draw_unit(widths, rng, options) -> (unit_network, layer_scales)`` draws at unit scale.
    """

    name: str
    summary: str
    defaults: Mapping
    choices: Mapping
    draw_unit: Callable = field(repr=False)
    fixed: Mapping = field(default_factory=lambda: MappingProxyType({}))


# --------------------------------------------------------------------------- i.i.d. schemes
def _draw_iid(widths, rng, options):
    law = options["law"]
    scales = he_layer_scales(widths, law)
    beta = options["bias_factor"]
    cumulative = np.cumprod(scales)
    weights, biases = [], []
    for layer, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        weights.append(_sample_law(law, rng, (n_out, n_in)))
        if options["bias_rule"] == "zero":
            biases.append(np.zeros(n_out))
            continue
        bias = beta * _sample_law(law, rng, n_out)
        # constant rule: b_l = β D_b in the source, so b̃_l = β D_b / Π_{k≤l} σ_k at unit scale
        biases.append(bias if options["bias_rule"] == "product" else bias / cumulative[layer])
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


def _ll_weight_block(law, kind, rng, shape) -> np.ndarray:
    if kind == "iid":
        return _sample_law(law, rng, shape)
    gaussian = _sample_law("normal", rng, shape)
    u, _, vt = np.linalg.svd(gaussian, full_matrices=False)
    # U Vᵀ is the polar factor: all singular values 1, independent of the SVD's sign choices
    return math.sqrt(LAW_VARIANCES[law] * shape[1]) * (u @ vt)


def _ll_groups(depth: int) -> list[list[int]]:
    groups = [[k, k + 1] for k in range(0, depth - 1, 2)]
    if depth % 2:
        groups[-1].append(depth - 1)
    return groups


def _ll_bias_blocks(options, rng, blocks) -> list[np.ndarray]:
    law, beta, kind = options["law"], options["bias_factor"], options["biases"]
    depth = len(blocks)
    if kind == "zero":
        return [np.zeros(w.shape[0]) for w in blocks]
    if kind == "independent":
        return [beta * _sample_law(law, rng, w.shape[0]) for w in blocks]
    if depth < 2:
        raise _validate.InputError(
            "looks-linear with dependent biases needs depth >= 2 (at least 3 widths): a single "
            "affine layer is linear only with zero bias"
        )
    out: list[np.ndarray] = [np.empty(0)] * depth
    for group in _ll_groups(depth):
        offset = np.zeros(blocks[group[0]].shape[1])
        for k in group[:-1]:
            out[k] = beta * _sample_law(law, rng, blocks[k].shape[0])
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


def _draw_looks_linear(widths, rng, options):
    shapes = _ll_block_shapes(widths)
    blocks = [_ll_weight_block(options["law"], options["weights"], rng, s) for s in shapes]
    bias_blocks = _ll_bias_blocks(options, rng, blocks)
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
        )
    return Scheme(
        name=law,
        summary=f"He-scaled {law} weights, {law} biases b_l ~ β·Π_{{k≤l}} σ_k·D_b",
        defaults=MappingProxyType({"bias_rule": "product", "bias_factor": 1.0}),
        choices=MappingProxyType({"bias_rule": ("product", "constant")}),
        draw_unit=_draw_iid,
        fixed=MappingProxyType({"law": law}),
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


def draw_source(scheme: str, widths: Sequence[int], *, rng, **options) -> SourceDraw:
    """Draw one source network from a named scheme, with its unit-scale form and Λ.

    The network is drawn at unit scale and scaled by the He layer scales (module docstring);
    the draw never looks at a target. Same rng state, same bytes.
    """
    if scheme not in SCHEMES:
        raise _validate.InputError(
            f"unknown initialisation scheme {scheme!r}; known schemes: {', '.join(scheme_names())}"
        )
    spec = SCHEMES[scheme]
    widths = _validate.widths("widths", widths)
    resolved = _resolve_options(spec, options)
    n_params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    # peak: the drawn arrays, their read-only copies in the unit network, the scaled
    # temporaries and their copies in the source network
    _validate.fits_in_memory(4 * 8 * n_params, f"a {scheme} network of widths {list(widths)}")
    rng = _validate.rng(rng)
    unit_network, scales = spec.draw_unit(widths, rng, resolved)
    return SourceDraw(
        scheme=scheme,
        options=MappingProxyType(resolved),
        network=from_unit_scale(unit_network, scales),
        unit_network=unit_network,
        layer_scales=tuple(scales),
    )


def draw_network(scheme: str, widths: Sequence[int], *, rng, **options) -> Network:
    """The source network of :func:`draw_source` (DESIGN.md, "Python API")."""
    return draw_source(scheme, widths, rng=rng, **options).network
