"""A strong lottery ticket: a random source network, binary masks, and the output scale Λ.

The ticket computes f_S = source ⊙ masks (THEORY.md §0), a genuine subnetwork: nothing about
the source changes but which parameters are kept. A *compact* ticket (THEORY.md §10) knows its
source only as a :class:`~lotteryproofs.init.SourceSpec` (scheme, widths, options, seed) and
holds the kept parameters: its ``source`` is the *support*, the source restricted to the
neurons a kept parameter touches (in the layers whose neuron order carries no meaning) with
every unkept parameter 0, and ``origin`` maps the support back into the full source. A ticket
approximates the target as Λ⁻¹·f_S (scaling lemma, THEORY.md §1). The log of the
random-subset-sum instances that chose the masks is carried along for reporting; certificates
never trust it and recompute every error from the masks (certify.py).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.conv_layers import Conv2d
from lotteryproofs.indices import nonzero_2d
from lotteryproofs.layers import Dense
from lotteryproofs.network import Network
from lotteryproofs.residual import Chain, Residual

#: Codes of the ``part`` column of :class:`RSSLog`: what a target parameter's instance builds.
PART_POSITIVE, PART_NEGATIVE, PART_BIAS = 0, 1, 2


def _readonly(array, dtype) -> np.ndarray:
    array = np.array(array, dtype=dtype, copy=True)
    array.setflags(write=False)
    return array


def _binary_masks(masks, params) -> tuple[np.ndarray, ...]:
    """One read-only boolean mask per parameter array, of its shape, with entries 0/1 only."""
    checked = []
    for m, p in zip(masks, params, strict=True):
        m = np.asarray(m)
        if m.shape != p.shape:
            raise _validate.InputError(f"mask shape {m.shape} differs from parameter {p.shape}")
        if m.dtype != bool and not np.all((m == 0) | (m == 1)):
            raise _validate.InputError("masks must be binary (0/1)")
        checked.append(_readonly(m, bool))
    return tuple(checked)


@dataclass(frozen=True, eq=False)
class RSSLog:
    """One row per random-subset-sum instance a construction solved, in the order solved.

    ``layer``/``row``/``col`` name the target parameter (``col = -1`` for a bias; for L+1,
    ``copy`` says which copy of the target neuron the instance builds, else 0). ``part`` is one
    of the PART_* codes. The chosen subset of instance m is
    ``chosen[chosen_ptr[m]:chosen_ptr[m+1]]``, as neuron indices of the source layer the
    candidates live in. ``error`` = |target − achieved|, recomputed exactly; ``failed`` marks
    instances whose error exceeds ε' (never silently accepted).
    """

    layer: np.ndarray
    row: np.ndarray
    col: np.ndarray
    part: np.ndarray
    copy: np.ndarray
    target: np.ndarray
    achieved: np.ndarray
    error: np.ndarray
    n_candidates: np.ndarray
    failed: np.ndarray
    chosen_ptr: np.ndarray
    chosen: np.ndarray

    _INT_FIELDS = ("layer", "row", "col", "part", "copy", "n_candidates", "chosen_ptr", "chosen")
    _FLOAT_FIELDS = ("target", "achieved", "error")

    def __post_init__(self):
        for name in self._INT_FIELDS:
            object.__setattr__(self, name, _readonly(getattr(self, name), np.int64))
        for name in self._FLOAT_FIELDS:
            object.__setattr__(self, name, _readonly(getattr(self, name), np.float64))
        object.__setattr__(self, "failed", _readonly(self.failed, bool))
        m = self.layer.shape[0]
        for name in (*self._INT_FIELDS, *self._FLOAT_FIELDS, "failed"):
            if name not in ("chosen_ptr", "chosen") and getattr(self, name).shape != (m,):
                raise _validate.InputError(f"RSS log column {name} must have {m} entries")
        if self.chosen_ptr.shape != (m + 1,) or self.chosen_ptr[-1] != self.chosen.shape[0]:
            raise _validate.InputError("RSS log chosen_ptr does not index chosen")

    @property
    def n_instances(self) -> int:
        return int(self.layer.shape[0])

    @property
    def subset_sizes(self) -> np.ndarray:
        return np.diff(self.chosen_ptr)

    def subset(self, m: int) -> np.ndarray:
        return self.chosen[self.chosen_ptr[m] : self.chosen_ptr[m + 1]]

    def columns(self) -> dict[str, np.ndarray]:
        """Every column by name (how ticket files store the log)."""
        names = (*self._INT_FIELDS, *self._FLOAT_FIELDS, "failed")
        return {name: getattr(self, name) for name in names}

    def summary(self) -> dict:
        """The ``rss`` block of the certificate JSON (DESIGN.md)."""
        sizes = self.subset_sizes
        return {
            "instances": self.n_instances,
            "failures": int(self.failed.sum()),
            "mean_subset_size": float(sizes.mean()) if sizes.size else 0.0,
            "max_subset_size": int(sizes.max()) if sizes.size else 0,
        }


#: Inputs per batch of :meth:`ConvTicket.approximation`.
_BATCH = 512


#: Layers with at most this share of nonzeros are multiplied as sparse matrices: measured on
#: LeNet-300-100's 2L ticket (benchmarks/README.md, "lenet command"), its 13 %-dense output
#: layer is faster sparse (a BLAS call on a 10-row matrix costs more than the 1 644 products).
_SPARSE_DENSITY = 0.2


def _sparse_or_dense(w: np.ndarray, density: float = _SPARSE_DENSITY):
    if w.size and np.count_nonzero(w) <= density * w.size:
        try:
            from scipy import sparse
        except ImportError:  # scipy is optional (it comes with the train/test extras): dense
            return w
        return sparse.csr_matrix(w)
    return w


@dataclass(frozen=True, eq=False)
class SourceOrigin:
    """The seeded source of a ticket, and where the ticket's ``source`` sits in it.

    ``spec`` is the :class:`~lotteryproofs.init.SourceSpec`; ``neurons[l][i]`` is the
    full-source index of neuron i of ``ticket.source`` at level l (l = 0 … L; all of them when
    the ticket holds its whole source; inputs and outputs are never dropped);
    ``source_sha256`` is network_sha256 of the full source (None when not recorded).
    """

    spec: object
    neurons: tuple[np.ndarray, ...]
    source_sha256: str | None = None
    #: ``ticket.source`` is the whole source (else only the support, unkept parameters 0)
    whole: bool = False

    def __post_init__(self):
        object.__setattr__(self, "neurons", tuple(_readonly(n, np.int64) for n in self.neurons))


@dataclass(frozen=True, eq=False)
class Ticket:
    """Source network + binary masks (weights and biases) + scale Λ + provenance.

    ``metadata`` holds what the file contract names (method, init, seed entropy, eps_param,
    delta, target_sha256, version) and whatever a construction needs to read its own layout
    back (e.g. the block multiplicity ρ); it must be JSON-serialisable.
    """

    source: Network
    weight_masks: tuple[np.ndarray, ...]
    bias_masks: tuple[np.ndarray, ...]
    scale: float
    metadata: Mapping = field(default_factory=dict)
    rss_log: RSSLog | None = None
    origin: SourceOrigin | None = None

    def __post_init__(self):
        if len(self.weight_masks) != self.source.depth or len(self.bias_masks) != self.source.depth:
            raise _validate.InputError(
                "a ticket needs one weight and one bias mask per source layer "
                f"({self.source.depth})"
            )
        masks = _binary_masks(tuple(self.weight_masks) + tuple(self.bias_masks),
                              self.source.weights + self.source.biases)
        depth = self.source.depth
        object.__setattr__(self, "weight_masks", tuple(masks[:depth]))
        object.__setattr__(self, "bias_masks", tuple(masks[depth:]))
        scale = _validate.positive("ticket scale Λ", self.scale)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    @property
    def compact(self) -> bool:
        """Whether ``source`` is only the support (the full source is known by its spec)."""
        return self.origin is not None and not self.origin.whole

    @property
    def source_widths(self) -> tuple[int, ...]:
        """The widths of the full source (the support's are ``source.widths``)."""
        return tuple(self.origin.spec.widths) if self.compact else self.source.widths

    @property
    def source_params(self) -> int:
        return self.origin.spec.n_params if self.compact else self.source.n_params

    def kept(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Per layer: (weight positions, weight values, bias positions, bias values), the
        positions flat (row-major) indices into the *full* source's arrays, ascending."""
        out = []
        widths = self.source_widths
        for layer, (w, b, wm, bm) in enumerate(zip(self.source.weights, self.source.biases,
                                                    self.weight_masks, self.bias_masks,
                                                    strict=True)):
            rows, cols = nonzero_2d(wm)
            b_rows = np.flatnonzero(bm)
            if self.origin is not None:
                rows_full = self.origin.neurons[layer + 1][rows]
                cols_full = self.origin.neurons[layer][cols]
                b_full = self.origin.neurons[layer + 1][b_rows]
            else:
                rows_full, cols_full, b_full = rows, cols, b_rows
            flat = rows_full * widths[layer] + cols_full
            order = np.argsort(flat, kind="stable")
            out.append((flat[order], w[rows, cols][order], b_full, b[b_rows]))
        return out

    @functools.cached_property
    def network(self) -> Network:
        """f_S: the source with every masked-out parameter set to 0.

        Computed once per ticket (source and masks are read-only); a compact ticket built by
        :func:`support_ticket` holds exactly its kept parameters, so there f_S *is* the
        support and no masked copy is made.
        """
        return self.source.masked(self.weight_masks, self.bias_masks)

    def count_nonzero(self) -> int:
        """Nonzero parameters of f_S (a kept parameter that happens to be 0 is not counted)."""
        return self.network.count_nonzero()

    def approximation(self, x) -> np.ndarray:
        """Λ⁻¹ f_S(x): the ticket's approximation of the target.

        A ticket's layers are mostly pruned (a block neuron keeps one weight), so a ReLU
        ticket is evaluated by the compiled sparse pass (:mod:`lotteryproofs.sparse_relu`): the
        same sums of the same nonzero products as the dense forward pass, in another order
        (rounding-level differences). Its packed layers are built once per ticket.
        """
        network = self.network
        x = np.asarray(x, dtype=np.float64)
        single = x.ndim == 1
        h = x[None, :] if single else x
        relu = all(getattr(a, "name", "relu") == "relu"
                   for a in getattr(network, "activations", ()))
        if h.ndim != 2 or h.shape[1] != network.widths[0] or not relu:
            # the network's own pass: its message for a wrong shape, any other activation
            return network.forward(x) / self.scale
        from lotteryproofs import sparse_relu

        out = sparse_relu.forward(self._sparse_layers, h) / self.scale
        return out[0] if single else out

    @functools.cached_property
    def _sparse_layers(self):
        """f_S's layers packed for :func:`lotteryproofs.sparse_relu.forward`, once per ticket."""
        from lotteryproofs import sparse_relu

        return sparse_relu.packed(self.network.weights, self.network.biases)


def droppable_levels(layout) -> set[int]:
    """Hidden levels whose neuron order a ticket's layout does not use: the block layers of
    pairs (their read-back recognises every neuron from its kept parameters alone)."""
    pairs = layout.get("pairs", ()) if isinstance(layout, Mapping) else ()
    return {int(pair["block_layer"]) + 1 for pair in pairs}


def support_ticket(spec, kept, scale, metadata, rss_log=None, *, droppable=(),
                   source_sha256=None, activations=None) -> Ticket:
    """The compact ticket of ``spec`` that keeps the parameters ``kept`` (as :meth:`Ticket.kept`
    lists them). Hidden level l in ``droppable`` keeps only the neurons a kept parameter
    touches (incoming weight, bias or outgoing weight); the others keep every neuron. The
    support holds exactly the kept parameters, so its masked network computes f_S.
    ``activations``: the source's hidden activations when not ReLU (general L+1)."""
    widths = tuple(spec.widths)
    depth = len(widths) - 1
    touched = [np.zeros(n, bool) for n in widths]
    for layer, (wpos, _, bpos, _) in enumerate(kept):
        touched[layer + 1][wpos // widths[layer]] = True
        touched[layer + 1][bpos] = True
        touched[layer][wpos % widths[layer]] = True
    neurons = []
    for level, n in enumerate(widths):
        keep = touched[level] if 0 < level < depth and level in droppable else np.ones(n, bool)
        if not keep.any():
            keep[0] = True  # a network needs width >= 1
        neurons.append(np.flatnonzero(keep))
    inverse = []
    for level, n in enumerate(widths):
        inv = np.full(n, -1, np.int64)
        inv[neurons[level]] = np.arange(neurons[level].size)
        inverse.append(inv)
    layers, wmasks, bmasks = [], [], []
    for layer, (wpos, wval, bpos, bval) in enumerate(kept):
        # only the kept values can be non-finite (every other entry is 0): checked here, so
        # the dense support is built once and wrapped without Network's validating copy
        wval, bval = np.asarray(wval, np.float64), np.asarray(bval, np.float64)
        if not (np.isfinite(wval).all() and np.isfinite(bval).all()):
            raise _validate.InputError(f"layer {layer}: a kept parameter is not finite")
        shape = (neurons[layer + 1].size, neurons[layer].size)
        r, c = inverse[layer + 1][wpos // widths[layer]], inverse[layer][wpos % widths[layer]]
        w, wm = np.zeros(shape), np.zeros(shape, bool)
        w[r, c], wm[r, c] = wval, True
        b, bm = np.zeros(shape[0]), np.zeros(shape[0], bool)
        b[inverse[layer + 1][bpos]], bm[inverse[layer + 1][bpos]] = bval, True
        w.setflags(write=False)
        b.setflags(write=False)
        layers.append(Dense.trusted(w, b))
        wmasks.append(wm)
        bmasks.append(bm)
    network = (Network.from_layers(layers) if activations is None
               else Network.from_layers(layers, activations))
    ticket = Ticket(network, tuple(wmasks), tuple(bmasks), scale,
                    metadata, rss_log, SourceOrigin(spec, tuple(neurons), source_sha256))
    # every unkept parameter of the support is 0 and every kept one is its value, so
    # source ⊙ masks equals the source itself, bit for bit: no masked copy is needed
    ticket.__dict__["network"] = ticket.source
    return ticket


@dataclass(frozen=True, eq=False)
class RepresentedLayer:
    """What a ticket computes for one target layer, read back from its masks (not its log).

    For every copy c of target neuron j (one copy for 2L and looks-linear, ρ for hidden L+1
    layers) and target input i, the ticket's pre-activation of that copy, at unit scale
    (THEORY.md §1), is

        Σ_i ( positive[c, j, i]·σ(x̂_i) + negative[c, j, i]·σ(−x̂_i) ) + bias[c, j]

    where x̂_i is the ticket's (approximate) value of target neuron i of the previous layer.
    The target's is Σ_i w_ji x_i + b_j = Σ_i (w_ji σ(x_i) − w_ji σ(−x_i)) + b_j, so the
    per-parameter errors are |positive − w| and |negative + w| (the latter only where x_i can
    be negative) and |bias − b|. ``gain[c, j, i]`` ≥ the Lipschitz constant of the entry in
    x̂_i (max(|positive|, |negative|) for 2L; Σ_{r∈S}|v_r| over the chosen copies for L+1), the
    factor by which an error in x̂_i propagates (THEORY.md §4.3, §5).
    """

    positive: np.ndarray
    negative: np.ndarray
    bias: np.ndarray
    gain: np.ndarray

    def __post_init__(self):
        for name in ("positive", "negative", "gain"):
            object.__setattr__(self, name, _readonly(getattr(self, name), np.float64))
        object.__setattr__(self, "bias", _readonly(self.bias, np.float64))
        if self.positive.ndim != 3 or not (
            self.positive.shape == self.negative.shape == self.gain.shape
        ):
            raise ValueError("positive, negative and gain must share a (copies, out, in) shape")
        if self.bias.shape != self.positive.shape[:2]:
            raise ValueError("bias must have shape (copies, out)")

    @property
    def copies(self) -> int:
        return int(self.positive.shape[0])


# ------------------------------------------------------------------ convolutional tickets
@dataclass(frozen=True, eq=False)
class ConvOrigin:
    """The seeded source of a convolutional ticket: its
    :class:`~lotteryproofs.conv_source.ConvSourceSpec` and network_sha256 of the source."""

    spec: object
    source_sha256: str


@dataclass(frozen=True, eq=False)
class ConvTicket:
    """A ticket whose source is not fully connected (Conv2d, pooling, Flatten, residual and
    Dense layers): the source network, one 0/1 mask per entry of its ``parameter_arrays``,
    Λ = Π λ_l, the layer scales λ_l, the RSS log and the layout (which source parameter layers
    represent which target layer); f_S = source ⊙ masks (proofs/conv-2l-construction.md).

    ``origin`` (when known) is the seeded spec the source is drawn from and its sha256: what a
    compact ticket file stores instead of the source (kept positions and values only).
    """

    source: Network
    masks: tuple
    scale: float
    layer_scales: tuple
    log: RSSLog
    layout: tuple
    metadata: Mapping = field(default_factory=dict)
    origin: ConvOrigin | None = None

    def __post_init__(self):
        params = self.source.parameter_arrays
        if len(self.masks) != len(params):
            raise _validate.InputError(f"a convolutional ticket needs one mask per parameter "
                                       f"array ({len(params)}), got {len(self.masks)}")
        object.__setattr__(self, "masks", _binary_masks(self.masks, params))
        object.__setattr__(self, "scale", _validate.positive("ticket scale Λ", self.scale))
        object.__setattr__(self, "layer_scales", tuple(float(s) for s in self.layer_scales))

    @functools.cached_property
    def network(self) -> Network:
        """The subnetwork: every source parameter times its mask."""
        return self.source.masked_parameters(self.masks)

    @property
    def rss_log(self) -> RSSLog:
        return self.log

    @property
    def compact(self) -> bool:
        """A convolutional ticket always holds its whole source in memory (files may not)."""
        return False

    @property
    def source_widths(self) -> tuple[int, ...]:
        return self.source.widths

    @property
    def source_params(self) -> int:
        return self.source.n_params

    def approximation(self, x, *, compact: bool = True) -> np.ndarray:
        """Λ⁻¹ f_S(x), the ticket's approximation of the target (THEORY.md §1), evaluated on
        :meth:`compact_network` (the same function up to summation order) unless told not.

        A block layer keeps one kernel tap per channel, so the compact network's convolutions
        with few nonzeros are multiplied as their unrolled sparse matrices (:func:`_unrolled`):
        the same nonzero products, summed in another order (rounding-level differences).
        """
        network = self.compact_network() if compact else self.network
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != network.widths[0] or not compact:
            return network.forward(x) / self.scale
        if "_sparse_plan" not in self.__dict__:
            self.__dict__["_sparse_plan"] = _sparse_plan(network.layers, network.activations)
        plan = self.__dict__["_sparse_plan"]
        out = np.empty((x.shape[0], network.widths[-1]))
        for start in range(0, x.shape[0], _BATCH):  # batches bound the hidden activations
            z = np.ascontiguousarray(x[start:start + _BATCH].T)
            out[start:start + _BATCH] = _run_plan(plan, z).T / self.scale
        return out

    def compact_network(self) -> Network:
        """The ticket without the block channels that cannot matter: a channel n of a block
        layer A whose outgoing 1×1 weights are all 0 contributes nothing; one whose weights
        and bias are all 0 outputs σ(0) = 0. Only zero terms leave the sums."""
        if "_compact_network" not in self.__dict__:
            network = self.network
            self.__dict__["_compact_network"] = Network.from_layers(
                _compact_layers(network.layers), network.activations)
        return self.__dict__["_compact_network"]

    @property
    def failures(self) -> int:
        return int(self.log.failed.sum())

    def count_nonzero(self) -> int:
        return int(sum(np.count_nonzero(p) for p in self.network.parameter_arrays))

    def kept(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per parameter array: (flat row-major positions of the kept entries, ascending; their
        source values)."""
        out = []
        for p, m in zip(self.source.parameter_arrays, self.masks, strict=True):
            pos = np.flatnonzero(m)
            out.append((pos, p.reshape(-1)[pos]))
        return out

    def tobytes(self) -> bytes:
        """The ticket's bytes (source parameters, masks, Λ): what "same seed" compares."""
        parts = [np.ascontiguousarray(p, "<f8").tobytes() for p in self.source.parameter_arrays]
        parts += [np.packbits(np.asarray(m, bool)).tobytes() for m in self.masks]
        parts.append(np.float64(self.scale).tobytes())
        return b"".join(parts)


def _compact_layers(layers) -> list:
    """Every (block, sum) pair of a layer list — two adjacent parameter layers, as the
    convolutional source lays them out — without its dead block channels; residual bodies
    and shortcut pairs likewise."""
    layers, i = list(layers), 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, Residual):
            shortcut = layer.shortcut
            if isinstance(shortcut, Chain):  # a source's shortcut: its pair, compacted
                shortcut = Chain(tuple(_compact_layers(shortcut.layers)), shortcut.activations)
            layers[i] = Residual(tuple(_compact_layers(layer.body_layers)),
                                 layer.body_activations, shortcut)
            i += 1
        elif (isinstance(layer, (Conv2d, Dense)) and i + 1 < len(layers)
              and type(layers[i + 1]) is type(layer)):
            a, b = layer, layers[i + 1]
            # b's input channels it reads (any output, any tap: an L+1 copy layer is k×k)
            reads = np.any(b.weight != 0, axis=tuple(d for d in range(b.weight.ndim) if d != 1))
            aw = a.weight.reshape(a.weight.shape[0], -1)
            keep = reads & (np.any(aw != 0, axis=1) | (a.bias != 0))
            if not keep.any():
                keep[0] = True  # a layer needs one channel: a silent one
            layers[i], layers[i + 1] = _select(a, keep, rows=True), _select(b, keep, rows=False)
            i += 2
        else:
            i += 1
    return layers


def _select(layer, keep: np.ndarray, *, rows: bool):
    """``layer`` with only the output channels (rows=True) or input channels ``keep``."""
    if isinstance(layer, Dense):
        if rows:
            return Dense(layer.weight[keep], layer.bias[keep])
        return Dense(layer.weight[:, keep], layer.bias)
    if rows:
        return Conv2d(layer.weight[keep], layer.bias[keep], layer.stride, layer.padding,
                      layer.input_shape)
    c, h, w = layer.input_shape
    return Conv2d(layer.weight[:, keep], layer.bias, layer.stride, layer.padding,
                  (int(keep.sum()), h, w))


def _unrolled(layer: Conv2d):
    """The convolution z = K ⋆ h as a sparse (O·Ho·Wo, C·H·W) matrix on the flat C·H·W layout:
    z[o, y, x] = Σ_{c,p,q} K[o,c,p,q]·h[c, s_h·y + p − P_h, s_w·x + q − P_w], one entry per
    nonzero tap and output pixel, none where the tap reads padding (a padding tap reads 0);
    scipy.sparse, or None without scipy."""
    try:
        from scipy import sparse
    except ImportError:
        return None
    o, c, p, q = np.nonzero(layer.weight)
    values = layer.weight[o, c, p, q]
    _, h, w = layer.input_shape
    n_out, ho, wo = layer.output_shape
    (sh, sw), (ph, pw) = layer.stride, layer.padding
    y, x = np.arange(ho)[None, :, None], np.arange(wo)[None, None, :]
    iy = sh * y + p[:, None, None] - ph
    ix = sw * x + q[:, None, None] - pw
    rows = (o[:, None, None] * ho + y) * wo + x
    cols = (c[:, None, None] * h + iy) * w + ix
    valid = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    rows, cols, valid = np.broadcast_arrays(rows, cols, valid)
    data = np.broadcast_to(values[:, None, None], valid.shape)[valid]
    return sparse.csr_matrix((data, (rows[valid], cols[valid])),
                             shape=(n_out * ho * wo, layer.in_features))


def _sparse_plan(layers, activations) -> list:
    """Per layer: ("linear", matrix, flat bias) for a Conv2d/Dense (sparse where its nonzeros
    are few), ("residual", body plan, shortcut plan or None) for a block whose shortcut is the
    identity or a chain, ("layer", layer) for the
    rest; each with the activation after it (None after the last)."""
    plan = []
    for t, layer in enumerate(layers):
        after = activations[t] if t < len(layers) - 1 else None
        if isinstance(layer, Conv2d):
            sparse_w = (_unrolled(layer) if np.count_nonzero(layer.weight)
                        <= _SPARSE_DENSITY * layer.weight.size else None)
            if sparse_w is None:
                plan.append(("layer", layer, after))
            else:
                _, ho, wo = layer.output_shape
                plan.append(("linear", sparse_w, np.repeat(layer.bias, ho * wo), after))
        elif isinstance(layer, Dense):
            plan.append(("linear", _sparse_or_dense(layer.weight), layer.bias, after))
        elif isinstance(layer, Residual) and isinstance(layer.shortcut, (Chain, type(None))):
            short = (None if layer.shortcut is None else
                     _sparse_plan(layer.shortcut.layers, layer.shortcut.activations))
            plan.append(("residual", _sparse_plan(layer.body_layers, layer.body_activations),
                         short, after))
        else:
            plan.append(("layer", layer, after))
    return plan


def _run_plan(plan, z: np.ndarray) -> np.ndarray:
    """The network of :func:`_sparse_plan` on z of shape (features, batch) (inputs as
    columns)."""
    for step in plan:
        kind, after = step[0], step[-1]
        if kind == "linear":
            z = np.asarray(step[1].dot(z))
            z += step[2][:, None]
        elif kind == "residual":
            z = _run_plan(step[1], z) + (z if step[2] is None else _run_plan(step[2], z))
        else:
            z = np.ascontiguousarray(step[1].forward(np.ascontiguousarray(z.T)).T)
        if after is not None:
            z = after.forward(z)
    return z
