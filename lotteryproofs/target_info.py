"""What a target file declares about its network, and what is assumed where it is silent.

A file of weights and biases does not say which activation σ sits between its Linear layers
(THEORY.md §0: x⁽ˡ⁾ = σ(W_l x⁽ˡ⁻¹⁾ + b_l) for l < L, f(x) = W_L x⁽ᴸ⁻¹⁾ + b_L), nor which inputs
the network is meant for. Its ``metadata`` JSON may say (docs/files.md):

* ``"activation"``: σ between the Linear layers: one activation for every hidden layer or a
  list of one per hidden layer, each a name of the activation registry
  (:data:`lotteryproofs.activations.ACTIVATIONS`, PyTorch and scikit-learn spellings
  included: "Tanh", "logistic"), a name with its parameter ("leaky_relu:0.1", "elu:0.5") or
  ``{"name": …, "alpha": …}``; declaring it also declares no activation after the last layer
  unless ``"output_activation"`` says otherwise;
* ``"output_activation"``: what follows the last layer (:data:`KNOWN_OUTPUT_ACTIVATIONS`);
* ``"input_box"``: ``{"lower": …, "upper": …}``, numbers or one per input coordinate.

What the file does not declare is assumed (ReLU unless the command line's ``--activation``
names one, the identity after the last layer, the box [-1, 1]^{n_0}) and said so:
:class:`TargetInfo` is the one record of both, built by :func:`target_info`, with the
assumptions worded once for the notes on stderr and for the certificate JSON. Every
registered activation is read (the network is built with it); which ones a construction can
handle is that construction's ``Supports`` declaration
(:func:`lotteryproofs.construct.registry.check_supported`), checked by the commands.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

import numpy as np

from lotteryproofs._validate import InputError
from lotteryproofs.activations import ACTIVATIONS, canonical_name, get_activation
from lotteryproofs.network import Box

#: Activation names a target may declare between its Linear layers: the registry's.
KNOWN_ACTIVATIONS = tuple(ACTIVATIONS)
#: Where the hidden activations came from → how the assumption is worded (None: declared).
ACTIVATION_SOURCES = ("metadata", "default", "--activation")
#: What may follow the last Linear layer, and what is handled today.
KNOWN_OUTPUT_ACTIVATIONS = ("identity", "relu", "sigmoid", "tanh", "softmax", "log_softmax")
SUPPORTED_OUTPUT_ACTIVATIONS = ("identity",)
#: Spellings accepted for the names above (PyTorch class names, lower-cased, without "_").
_ALIASES = {"leakyrelu": "leaky_relu", "none": "identity", "linear": "identity",
            "swish": "silu", "logsoftmax": "log_softmax"}

DEFAULT_BOX = (-1.0, 1.0)
#: Where the input box came from → how it is said after the box.
BOX_SOURCES = {
    "default": "default",
    "metadata": "from the file's input_box metadata",
    "built-in": "the built-in target's input box",
    "--domain": "from --domain",
    "ticket": "from the ticket's domain",
}


def hidden_activations(origin: str, value, n_hidden: int | None,
                       key: str = "activation") -> tuple[str, ...]:
    """A declared ``activation`` (one, or a list of one per hidden layer) as the registry's
    specs, one per hidden layer (a single one repeated; kept as given when n_hidden is None)."""
    items = value if isinstance(value, list) else [value]
    specs = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str):
            raise InputError(f"{origin}: {key} must be a name such as 'relu' (or a list of "
                             f"one per hidden layer), got {item!r}")
        if canonical_name(name.partition(":")[0]) is None:
            raise InputError(f"{origin}: {key} is {name!r}, not a known activation "
                             f"({', '.join(KNOWN_ACTIVATIONS)})")
        try:
            specs.append(get_activation(item).spec)
        except InputError as exc:
            raise InputError(f"{origin}: {key}: {exc}") from None
    if isinstance(value, list):
        if n_hidden is not None and len(specs) != n_hidden:
            raise InputError(f"{origin}: {key} lists {len(specs)} activations but the target "
                             f"has {n_hidden} hidden layers")
        return tuple(specs)
    return tuple(specs) * (1 if n_hidden is None else n_hidden)


def activation_name(origin: str, key: str, value, known: tuple[str, ...]) -> str:
    """A declared activation as its canonical name ('ReLU' → 'relu'), refusing unknown ones."""
    if not isinstance(value, str):
        raise InputError(f"{origin}: metadata {key!r} must be a name such as 'relu', got {value!r}")
    squeezed = value.strip().lower().replace("-", "").replace("_", "")
    by_squeezed = {k.replace("_", ""): k for k in known}
    name = by_squeezed.get(squeezed, _ALIASES.get(squeezed))
    if name not in known:
        raise InputError(
            f"{origin}: metadata {key!r} is {value!r}, not a known activation "
            f"({', '.join(known)})"
        )
    return name


def _bound(origin: str, which: str, value, n_inputs: int) -> np.ndarray:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return np.full(n_inputs, float(value))
    if (isinstance(value, list) and all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                        for v in value)):
        if len(value) != n_inputs:
            raise InputError(
                f"{origin}: metadata input_box {which!r} has {len(value)} entries but the "
                f"target has {n_inputs} inputs"
            )
        return np.array(value, dtype=float)
    raise InputError(
        f"{origin}: metadata input_box {which!r} must be a number or a list of {n_inputs} "
        f"numbers, got {value!r}"
    )


def declared_box(metadata: dict, n_inputs: int, origin: str) -> Box | None:
    """The box the metadata's ``input_box`` declares (checked against n_0), else None."""
    box = metadata.get("input_box")
    if box is None:
        return None
    if not isinstance(box, dict) or not {"lower", "upper"} <= set(box):
        raise InputError(f"{origin}: metadata input_box must be an object with lower and upper")
    if "dim" in box and box["dim"] != n_inputs:
        raise InputError(
            f"{origin}: metadata input_box has dim {box['dim']!r} but the target has "
            f"{n_inputs} inputs"
        )
    lower = _bound(origin, "lower", box["lower"], n_inputs)
    upper = _bound(origin, "upper", box["upper"], n_inputs)
    try:
        return Box(lower, upper)
    except InputError as exc:
        raise InputError(f"{origin}: metadata input_box: {exc}") from None


def describe_box(box: Box) -> str:
    """[lo, hi]^n for a cube, else the range of the per-coordinate bounds."""
    lo, hi = box.lower, box.upper
    if np.all(lo == lo[0]) and np.all(hi == hi[0]):
        return f"[{lo[0]:g}, {hi[0]:g}]^{box.dim}"
    return (f"∏ [lower_i, upper_i] over {box.dim} coordinates, lower_i in "
            f"[{lo.min():.4g}, {lo.max():.4g}], upper_i in [{hi.min():.4g}, {hi.max():.4g}]")


def box_line(box: Box, source: str) -> str:
    """``input box [-1, 1]^4 (default)``: printed by every command that uses the box."""
    return f"input box {describe_box(box)} ({BOX_SOURCES[source]})"


@dataclass(frozen=True)
class TargetInfo:
    """What a target declared and what was assumed for it (the one place both are worded)."""

    origin: str  # the target as the user named it (a path or a built-in name)
    activation: str  # the hidden activations' spec ("relu", "tanh"), or their list in words
    activation_declared: bool
    output_activation: str
    input_box: Box
    input_box_source: str  # a key of BOX_SOURCES
    #: further readings of the file that are assumptions (state_dict.Layers, in words)
    layout_assumptions: tuple[str, ...] = ()
    #: one activation spec per hidden layer (what the network is built with)
    activations: tuple[str, ...] = ()
    #: where they came from (ACTIVATION_SOURCES)
    activation_source: str = "metadata"

    def __post_init__(self):
        if self.input_box_source not in BOX_SOURCES:
            raise ValueError(f"unknown input box source {self.input_box_source!r}")
        if self.activation_source not in ACTIVATION_SOURCES:
            raise ValueError(f"unknown activation source {self.activation_source!r}")

    def _undeclared_activation(self) -> str:
        if self.activation_source == "--activation":
            return (f"{self.origin} declares none; {self.activation} (from --activation) "
                    "between the linear layers and none after the last")
        return (f"{self.origin} declares none; assumed ReLU between the linear layers and "
                "none after the last")

    @property
    def assumptions(self) -> tuple[str, ...]:
        """Everything taken without the file saying so, one sentence each."""
        said = []
        if not self.activation_declared:
            said.append(f"activation: {self._undeclared_activation()}")
        if self.input_box_source == "default":
            said.append(f"input box: {self.origin} declares no input_box; assumed the default "
                        f"{describe_box(self.input_box)}")
        return (*said, *self.layout_assumptions)

    @property
    def notes(self) -> tuple[str, ...]:
        """The lines to print on stderr: the activation assumption (the box is printed apart)."""
        said = []
        if self.activation_source == "--activation":
            said.append(f"{self.origin} declares no activation; using {self.activation} "
                        "(from --activation) between the linear layers and none after the last")
        elif not self.activation_declared:
            said.append(f"{self.origin} declares no activation; assuming ReLU between the "
                        "linear layers and none after the last")
        return (*said, *self.layout_assumptions)

    def box_line(self) -> str:
        return box_line(self.input_box, self.input_box_source)

    def with_box(self, box: Box, source: str) -> TargetInfo:
        """The same target over another box (``--domain``, a ticket's domain)."""
        if box.dim != self.input_box.dim:
            raise InputError(
                f"the box has dimension {box.dim} but {self.origin} has {self.input_box.dim} inputs"
            )
        return dataclasses.replace(self, input_box=box, input_box_source=source)


def _numbers(value, n: int) -> bool:
    return isinstance(value, list) and len(value) == n and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)


def check_provenance(metadata: dict, n_inputs: int, origin: str) -> None:
    """The provenance keys the toolkit reads back (evaluate.py) have the types it needs.

    ``dataset`` (a name), ``split_seed`` (an integer ≥ 0) and ``preprocessing`` ({"mean",
    "scale"}: n_0 numbers each), as lotteryproofs.train writes them.
    """
    if "dataset" in metadata and not isinstance(metadata["dataset"], str):
        raise InputError(f"{origin}: metadata 'dataset' must be a dataset name, "
                         f"got {metadata['dataset']!r}")
    seed = metadata.get("split_seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"{origin}: metadata 'split_seed' must be an integer >= 0, got {seed!r}")
    recorded = metadata.get("preprocessing")
    if recorded is not None and not (isinstance(recorded, dict) and all(
            _numbers(recorded.get(k), n_inputs) for k in ("mean", "scale"))):
        raise InputError(f"{origin}: metadata 'preprocessing' must hold 'mean' and 'scale', "
                         f"{n_inputs} numbers each")


def target_info(metadata: dict, n_inputs: int, origin: str, *, box_source: str = "metadata",
                layout_assumptions: tuple[str, ...] = (), n_hidden: int | None = None,
                activation: str | None = None) -> TargetInfo:
    """Read the declarations of a target's metadata; refuse what is declared but unknown.

    ``box_source`` says where a declared ``input_box`` comes from ("metadata" for the file's
    own, "built-in" for a box the built-in registry adds). ``n_hidden`` (the number of hidden
    layers) checks a per-layer activation list; ``activation`` is the command line's
    ``--activation`` (used when the file declares none, refused when it declares another).
    """
    declared = "activation" in metadata
    if declared:
        specs = hidden_activations(origin, metadata["activation"], n_hidden)
        source = "metadata"
        if activation is not None:
            given = hidden_activations("--activation", activation, n_hidden)
            if given != specs:
                raise InputError(
                    f"{origin} declares activation {_in_words(specs)}; --activation "
                    f"{activation} contradicts it (drop --activation)")
    elif activation is not None:
        specs, source = hidden_activations("--activation", activation, n_hidden), "--activation"
    else:
        specs, source = ("relu",) * (1 if n_hidden is None else n_hidden), "default"
    output = (activation_name(origin, "output_activation", metadata["output_activation"],
                              KNOWN_OUTPUT_ACTIVATIONS)
              if "output_activation" in metadata else "identity")
    if output not in SUPPORTED_OUTPUT_ACTIVATIONS:
        raise InputError(
            f"output_activation {metadata['output_activation']!r} is declared by {origin} but "
            "only targets with no activation after the last layer are supported yet (drop it: "
            "the ticket then approximates the last layer's outputs, the logits)"
        )
    check_provenance(metadata, n_inputs, origin)
    box = declared_box(metadata, n_inputs, origin)
    if box is None:
        box, box_source = Box.cube(*DEFAULT_BOX, n_inputs), "default"
    return TargetInfo(origin, _in_words(specs), declared, output, box, box_source,
                      tuple(layout_assumptions), activations=specs, activation_source=source)


def _in_words(specs: tuple[str, ...]) -> str:
    """One spec when every hidden layer has it ("tanh"), else the list ("[tanh, relu]")."""
    if len(set(specs)) <= 1:
        return specs[0] if specs else "relu"
    return "[" + ", ".join(specs) + "]"
