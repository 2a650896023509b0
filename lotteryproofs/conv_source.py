"""A convolutional source as a function of its architecture and seed
(proofs/conv-2l-construction.md).

Parameter layer l of a convolutional source (Conv2d or Dense, residual bodies included, in
``Network.parameter_arrays`` order) holds

    W_l = λ_l·W̃_l,   b_l = β·(Π_{k≤l} λ_k)·b̃_l,

with W̃_l the flat (out, fan-in) matrix and b̃_l the vector drawn from the tiled streams of
:mod:`lotteryproofs.init` under law D (layer index l, tiles of ``TILE``), λ_l the layer scales
(THEORY.md §1). :func:`draw_parameter_layer` is that draw, the one the convolutional
construction calls while it lays out the source; :class:`ConvSourceSpec` records what fixes
it (the source's ``architecture``, its parameter names and shapes, λ_l, D, β and the seed) so
that a ticket file can hold only its kept positions and values and the source be drawn again.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.architecture import architecture_arrays, network_from_architecture
from lotteryproofs.init import LAW_VARIANCES, TILE, Streams
from lotteryproofs.network import Network, network_sha256

#: What a file's ``source.kind`` says for a convolutional source.
KIND = "conv"


def draw_parameter_layer(streams: Streams, law: str, index: int, shape: Sequence[int],
                         scale: float, cumulative: float, bias_factor: float
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(W_l of ``shape``, b_l) of parameter layer ``index`` (module docstring); ``cumulative``
    is Π_{k≤l} λ_k, this layer's λ_l = ``scale`` included."""
    shape = tuple(int(n) for n in shape)
    fan_in = int(np.prod(shape[1:]))
    w = streams.matrix(law, (shape[0], fan_in), index) * scale
    b = bias_factor * streams.vector(law, shape[0], index) * cumulative
    return w.reshape(shape), b


def _ints(value):
    return int(value) if isinstance(value, numbers.Integral) else [int(v) for v in value]


@dataclass(frozen=True, eq=False)
class ConvSourceSpec:
    """The convolutional source of a (architecture, parameter shapes, λ_l, law, β, seed).

    ``architecture`` is the source's module list and input shape as
    :func:`lotteryproofs.architecture.architecture_arrays` writes them; ``parameters`` lists
    (name, shape) of every weight and bias in ``parameter_arrays`` order (pairs: weight then
    bias of parameter layer l).
    """

    architecture: Mapping
    parameters: tuple
    layer_scales: tuple
    law: str
    bias_factor: float
    entropy: object
    spawn_key: tuple = ()

    @classmethod
    def of(cls, network: Network, layer_scales, law: str, bias_factor: float, entropy,
           spawn_key=()) -> ConvSourceSpec:
        """The spec of a source drawn by :func:`draw_parameter_layer` (its layout read off
        ``network``; nothing is compared with the values here: :meth:`network` redraws)."""
        arrays, architecture = architecture_arrays(network)
        return cls(architecture, tuple((k, tuple(v.shape)) for k, v in arrays.items()),
                   tuple(float(s) for s in layer_scales), law, float(bias_factor),
                   _ints(entropy), tuple(int(k) for k in spawn_key))

    @property
    def n_params(self) -> int:
        return int(sum(np.prod(shape) for _, shape in self.parameters))

    def network(self) -> Network:
        """The whole source, drawn again."""
        streams = Streams.from_seed(self.entropy, self.spawn_key)
        arrays, cumulative = {}, 1.0
        for index in range(len(self.parameters) // 2):
            (w_name, w_shape), (b_name, _) = self.parameters[2 * index:2 * index + 2]
            scale = self.layer_scales[index]
            cumulative *= scale
            arrays[w_name], arrays[b_name] = draw_parameter_layer(
                streams, self.law, index, w_shape, scale, cumulative, self.bias_factor)
        return network_from_architecture(arrays, dict(self.architecture), "the ticket's source")

    def sha256(self) -> str:
        return network_sha256(self.network())

    def to_json(self) -> dict:
        return {"kind": KIND, "architecture": self.architecture["architecture"],
                "input_shape": list(self.architecture["input_shape"]),
                "parameters": [[name, list(shape)] for name, shape in self.parameters],
                "layer_scales": list(self.layer_scales), "law": self.law,
                "bias_factor": self.bias_factor, "entropy": self.entropy,
                "spawn_key": list(self.spawn_key), "tile": TILE, "numpy": np.__version__}

    @classmethod
    def from_json(cls, data: Mapping, origin: str = "the ticket") -> ConvSourceSpec:
        try:
            arch = {"architecture": data["architecture"], "input_shape": data["input_shape"]}
            params, scales = data["parameters"], data["layer_scales"]
            law, beta = data["law"], data["bias_factor"]
            entropy, spawn_key, tile = data["entropy"], data["spawn_key"], data["tile"]
        except (KeyError, TypeError):
            raise _validate.InputError(
                f"{origin}: its convolutional source description is incomplete (needs "
                "architecture, input_shape, parameters, layer_scales, law, bias_factor, "
                "entropy, spawn_key, tile)") from None
        if tile != TILE:
            raise _validate.InputError(
                f"{origin}: its source was drawn in tiles of {tile}, this version draws {TILE}")
        if law not in LAW_VARIANCES:
            raise _validate.InputError(f"{origin}: unknown source law {law!r}")
        ok = isinstance(params, list) and len(params) % 2 == 0 and all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
            and isinstance(p[1], list) and all(isinstance(n, int) and n > 0 for n in p[1])
            for p in params)
        if not ok:
            raise _validate.InputError(
                f"{origin}: its source parameters must be [name, shape] pairs (weight, bias)")
        if not (isinstance(scales, list) and len(scales) == len(params) // 2):
            raise _validate.InputError(
                f"{origin}: its source needs one layer scale per parameter layer")
        scales = tuple(_validate.positive("a source layer scale", s) for s in scales)
        beta = _validate.positive("the source bias factor β", beta)
        if not (isinstance(entropy, int) or (isinstance(entropy, list) and all(
                isinstance(e, int) and e >= 0 for e in entropy))) or isinstance(entropy, bool):
            raise _validate.InputError(f"{origin}: the source entropy must be integers")
        if not isinstance(spawn_key, list) or not all(isinstance(k, int) for k in spawn_key):
            raise _validate.InputError(f"{origin}: the source spawn_key must be integers")
        return cls(arch, tuple((name, tuple(shape)) for name, shape in params), scales, law,
                   beta, entropy, tuple(spawn_key))

