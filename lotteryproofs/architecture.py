"""A target's declared module list ↔ the layers and activations of a network (docs/files.md,
"Convolutional targets").

A file that holds more than Linear layers says what its ``nn.Sequential`` is: the metadata's
``"architecture"`` lists the modules in order, ``"input_shape"`` is [C, H, W]::

    [{"type": "conv2d", "stride": 1, "padding": 1}, {"type": "relu"},
     {"type": "avgpool2d", "kernel": 2}, {"type": "flatten"}, {"type": "linear"}]

Module i with parameters reads ``{i}.weight`` and ``{i}.bias`` (PyTorch's state-dict names;
``torch.nn.utils.prune``'s ``weight_orig``/``weight_mask`` too); a residual block
``{"type": "residual", "body": [...], "shortcut": null | {"type": "conv2d", ...}}`` at index i
reads its body's module j as ``{i}.body.{j}.*`` and its shortcut as ``{i}.shortcut.*`` (a
module with attributes ``body = nn.Sequential(...)`` and ``shortcut = nn.Conv2d(...)``,
computing shortcut(x) + body(x); a 1×1 shortcut is ``{"type": "conv2d", "stride": s,
"padding": 0}``). A shortcut may also be a module list (``shortcut = nn.Sequential(...)``,
module j read as ``{i}.shortcut.{j}.*``): how a convolutional source writes the two layers
that represent a target's shortcut. Activation modules ("relu", "tanh", … any registered name)
sit between layers; two layers with none between them get the Identity activation (the
network keeps one activation per hidden layer). Every tensor must belong to a module of the
list and every module must find its tensors: anything else is refused in one line.
"""

from __future__ import annotations

import numbers

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.activations import IDENTITY, canonical_name, get_activation
from lotteryproofs.conv_layers import AvgPool2d, Conv2d, Flatten, MaxPool2d
from lotteryproofs.layers import Dense
from lotteryproofs.network import Network
from lotteryproofs.residual import Chain, Residual
from lotteryproofs.state_dict import module_part

InputError = _validate.InputError

#: module type → the keys its entry may have besides "type"
_KEYS = {"conv2d": {"stride", "padding"}, "linear": set(), "flatten": set(),
         "avgpool2d": {"kernel", "stride"}, "maxpool2d": {"kernel", "stride"},
         "residual": {"body", "shortcut"}}
_ALIASES = {"conv": "conv2d", "dense": "linear", "avgpool": "avgpool2d", "maxpool": "maxpool2d"}
_NORMALISATIONS = ("batchnorm", "layernorm", "groupnorm", "instancenorm")


def input_shape(origin: str, value) -> tuple[int, ...]:
    """metadata ``input_shape`` as (C, H, W) (or (n,) for a network that starts with a
    linear layer), positive integers."""
    if (not isinstance(value, (list, tuple)) or len(value) not in (1, 3) or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0
            for v in value)):
        raise InputError(f"{origin}: metadata input_shape must be [C, H, W] (three positive "
                         f"integers; [n] for a flat input), got {value!r}")
    return tuple(int(v) for v in value)


class _Reader:
    """Walks the module list, taking each module's tensors out of ``arrays``."""

    def __init__(self, arrays: dict, origin: str):
        self.arrays = dict(arrays)
        self.used: set[str] = set()
        self.origin = origin

    def fail(self, label: str, message: str):
        raise InputError(f"{self.origin}: {label}: {message}")

    def parameters(self, prefix: str, label: str) -> tuple[np.ndarray, np.ndarray]:
        module = {key[len(prefix):]: value for key, value in self.arrays.items()
                  if key.startswith(prefix) and "." not in key[len(prefix):]}
        if not module:
            self.fail(label, f"no tensors {prefix}weight / {prefix}bias in the file (the "
                             "architecture list does not match the tensors)")
        self.used.update(prefix + name for name in module)
        return (module_part(self.origin, label, prefix, module, "weight"),
                module_part(self.origin, label, prefix, module, "bias"))

    def entry(self, item, label: str) -> tuple[str, dict]:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            self.fail(label, f"an architecture entry is an object with a \"type\", got {item!r}")
        kind = item["type"].strip().lower()
        kind = _ALIASES.get(kind, kind)
        if kind.startswith(_NORMALISATIONS):
            self.fail(label, f"{item['type']} is not supported (only conv2d, linear, avgpool2d, "
                             "maxpool2d, flatten, residual and activations): fold a BatchNorm "
                             "into the convolution before it (W·γ/σ, (b − μ)·γ/σ + β) and "
                             "save that")
        if kind not in _KEYS:
            if canonical_name(kind) is None:
                self.fail(label, f"unsupported module type {item['type']!r} (supported: "
                                 f"{', '.join(_KEYS)} and the activations)")
            return "activation", item
        extra = sorted(set(item) - {"type"} - _KEYS[kind])
        if extra:
            self.fail(label, f"{kind} does not take {extra[0]!r} (supported keys: "
                             f"{sorted(_KEYS[kind]) or 'none'})")
        return kind, item

    def layer(self, kind: str, item: dict, prefix: str, label: str, shape: tuple):
        try:
            if kind == "conv2d":
                w, b = self.parameters(prefix, label)
                if w.ndim != 4:
                    self.fail(label, f"conv2d weight {prefix}weight has shape {list(w.shape)}; "
                                     "it must be (out, in, kh, kw)")
                if len(shape) != 3:
                    self.fail(label, "conv2d after a flatten or linear layer (its input is not "
                                     "an image)")
                if w.shape[1] != shape[0]:
                    self.fail(label, f"conv2d weight {prefix}weight of shape {list(w.shape)} "
                                     f"takes {w.shape[1]} channels but its input has "
                                     f"{shape[0]} (shape {list(shape)})")
                return Conv2d(w, b, item.get("stride", 1), item.get("padding", 0), shape)
            if kind == "linear":
                w, b = self.parameters(prefix, label)
                if w.ndim != 2:
                    self.fail(label, f"linear weight {prefix}weight has shape {list(w.shape)}; "
                                     "it must be (out, in)")
                if len(shape) != 1:
                    self.fail(label, f"linear layer on an image of shape {list(shape)}: a "
                                     "flatten module must come first")
                if w.shape[1] != shape[0]:
                    self.fail(label, f"linear weight {prefix}weight of shape {list(w.shape)} "
                                     f"takes {w.shape[1]} inputs but its input has {shape[0]}")
                return Dense(w, b)
            if len(shape) != 3:
                self.fail(label, f"{kind} after a flatten or linear layer (its input is not an "
                                 "image)")
            if kind == "flatten":
                return Flatten(shape)
            if kind in ("avgpool2d", "maxpool2d"):
                if "kernel" not in item:
                    self.fail(label, f"{kind} needs a \"kernel\"")
                pool = AvgPool2d if kind == "avgpool2d" else MaxPool2d
                return pool(item["kernel"], item.get("stride"), shape)
            # residual
            body, acts = self.sequence(item.get("body"), f"{prefix}body.", f"{label} body",
                                       shape)
            shortcut = item.get("shortcut")
            if isinstance(shortcut, list):  # an nn.Sequential shortcut (a source's pair)
                s_layers, s_acts = self.sequence(shortcut, f"{prefix}shortcut.",
                                                 f"{label} shortcut", shape)
                shortcut = Chain(tuple(s_layers), tuple(s_acts))
            elif shortcut is not None:
                s_kind, s_item = self.entry(shortcut, f"{label} shortcut")
                if s_kind not in ("conv2d", "linear"):
                    self.fail(label, f"a shortcut is conv2d or linear, got {s_kind}")
                shortcut = self.layer(s_kind, s_item, f"{prefix}shortcut.",
                                      f"{label} shortcut", shape)
            return Residual(tuple(body), tuple(acts), shortcut)
        except InputError as exc:
            if str(exc).startswith(self.origin):
                raise
            self.fail(label, str(exc))

    def sequence(self, items, prefix: str, label: str, shape: tuple):
        """The layers and activations of a module list (index i → ``{prefix}{i}.*``)."""
        if not isinstance(items, list) or not items:
            self.fail(label, f"an architecture is a non-empty list of modules, got {items!r}")
        layers, acts, pending = [], [], None
        for i, item in enumerate(items):
            where = f"module {prefix}{i}" if prefix else f"module {i}"
            kind, item = self.entry(item, where)
            if kind == "activation":
                if not layers:
                    self.fail(where, "an activation before the first layer")
                if pending is not None:
                    self.fail(where, "two activations with no layer between them")
                spec = {"name": item["type"], **{k: v for k, v in item.items() if k != "type"}}
                try:
                    pending = get_activation(spec)
                except InputError as exc:
                    self.fail(where, str(exc))
                continue
            if kind == "flatten" and len(shape) == 1:
                continue  # flattening a flat vector: nothing
            layer = self.layer(kind, item, f"{prefix}{i}.", where, shape)
            if layers:
                acts.append(pending if pending is not None else IDENTITY)
            pending = None
            layers.append(layer)
            shape = tuple(getattr(layer, "output_shape", (layer.out_features,)))
        if pending is not None:
            self.fail(label, "ends with an activation (declare what follows the last layer "
                             "as metadata output_activation)")
        if not layers:
            self.fail(label, "has no layer")
        return layers, acts


def network_from_architecture(arrays: dict, metadata: dict, origin: str) -> Network:
    """The network a file's ``architecture`` and ``input_shape`` declare, its tensors read
    from ``arrays`` (module docstring); every tensor must be used."""
    architecture = metadata["architecture"]
    if "input_shape" not in metadata:
        raise InputError(f"{origin}: metadata declares an architecture but no input_shape "
                         "[C, H, W]")
    shape = input_shape(origin, metadata["input_shape"])
    reader = _Reader(arrays, origin)
    layers, acts = reader.sequence(architecture, "", "architecture", shape)
    unused = sorted(set(arrays) - reader.used)
    if unused:
        raise InputError(f"{origin}: the tensor {unused[0]!r} belongs to no module of the "
                         "architecture (the architecture list does not match the tensors)")
    return Network.from_layers(layers, acts)


# ------------------------------------------------------------------------------ writing
def _layer_entry(layer) -> dict:
    if isinstance(layer, Conv2d):
        stride, padding = layer.stride, layer.padding
        return {"type": "conv2d",
                "stride": stride[0] if stride[0] == stride[1] else list(stride),
                "padding": padding[0] if padding[0] == padding[1] else list(padding)}
    if isinstance(layer, (AvgPool2d, MaxPool2d)):
        kernel, stride = layer.kernel, layer.stride
        entry = {"type": layer.kind,
                 "kernel": kernel[0] if kernel[0] == kernel[1] else list(kernel)}
        if stride != kernel:
            entry["stride"] = stride[0] if stride[0] == stride[1] else list(stride)
        return entry
    if isinstance(layer, Flatten):
        return {"type": "flatten"}
    if isinstance(layer, Dense):
        return {"type": "linear"}
    raise TypeError(f"no architecture entry for a {type(layer).__name__}")


def _activation_entry(act) -> dict:
    spec = act.spec
    name, _, arg = spec.partition(":")
    entry = {"type": name}
    if arg:
        from lotteryproofs.activations import PARAMETERS

        entry[PARAMETERS[name]] = float(arg)
    return entry


def _sequence_out(layers, acts, prefix: str, arrays: dict) -> list:
    entries = []
    for t, layer in enumerate(layers):
        index = len(entries)
        if isinstance(layer, Residual):
            body = _sequence_out(layer.body_layers, layer.body_activations,
                                 f"{prefix}{index}.body.", arrays)
            shortcut = None
            if isinstance(layer.shortcut, Chain):
                shortcut = _sequence_out(layer.shortcut.layers, layer.shortcut.activations,
                                         f"{prefix}{index}.shortcut.", arrays)
            elif layer.shortcut is not None:
                shortcut = _layer_entry(layer.shortcut)
                arrays[f"{prefix}{index}.shortcut.weight"] = layer.shortcut.weight
                arrays[f"{prefix}{index}.shortcut.bias"] = layer.shortcut.bias
            entries.append({"type": "residual", "body": body, "shortcut": shortcut})
        else:
            if isinstance(layer, Dense) and len(getattr(layers[t - 1], "output_shape", ())) == 3 \
                    and t > 0:
                # a Dense layer reads an image's C·H·W values directly (the flat layout);
                # nn.Linear needs nn.Flatten before it
                entries.append({"type": "flatten"})
                index += 1
            entries.append(_layer_entry(layer))
            if layer.parameters:
                arrays[f"{prefix}{index}.weight"] = layer.weight
                arrays[f"{prefix}{index}.bias"] = layer.bias
        if t < len(layers) - 1 and acts[t] != IDENTITY:
            entries.append(_activation_entry(acts[t]))
    return entries


def architecture_arrays(network: Network) -> tuple[dict[str, np.ndarray], dict]:
    """The nn.Sequential tensors and the metadata (``architecture``, ``input_shape``) that
    :func:`network_from_architecture` reads back as ``network``. An Identity activation
    between two layers is written as nothing (that is how it reads back)."""
    arrays: dict[str, np.ndarray] = {}
    entries = _sequence_out(network.layers, network.activations, "", arrays)
    return arrays, {"architecture": entries, "input_shape": list(network.input_shape)}
