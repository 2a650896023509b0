"""What a construction is: one frozen :class:`Construction` record per method (THEORY.md §4).

Each construction module (two_layer, looks_linear, l_plus_one, zero_bias) instantiates one
record and :mod:`lotteryproofs.construct.registry` collects them; nothing outside those
modules compares method names. A record carries

* its ``name`` (the ``--method`` value), a display ``label`` and a one-line ``summary``;
* its default initialisation scheme and the rule that resolves a requested one;
* what it supports (:class:`Supports`: layer types, activations, input domains);
* its :class:`~lotteryproofs.bounds.BoundSpec`: which of bounds.py's expressions give its
  a-priori error, ε', instance count, pool sizing and source widths;
* its own options, declared once (:mod:`lotteryproofs.construct.options`);
* three functions: ``source_widths(target_widths, rho, options)``, ``build(BuildInput) ->
  Built`` (choose the masks on the drawn source) and ``represent(unit_ticket, metadata)``
  (read back, from masks and metadata alone, what a ticket computes per target layer);
* ``expected_layout(target, rho, options, negative_inputs, widening)``: the layout metadata
  ``build`` writes for those parameters and that target (its widths, and its activations
  where the source carries them) (recomputed by ``verify``, which believes no
  layout a file claims: lotteryproofs.ticket_checks).

The generic steps (validation, sizing from bounds.py, the draw, the metadata) are
:func:`lotteryproofs.construct.construct`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.bound_spec import BoundSpec
from lotteryproofs.construct.options import Option, validate_options
from lotteryproofs.network import Box, Network

#: The initialisation scheme of mirrored (looks-linear) sources (lotteryproofs.init).
MIRRORED_SCHEME = "looks-linear"


@dataclass(frozen=True)
class Supports:
    """What a construction accepts: layer types, activations (by name) and input domains."""

    layers: tuple = ("Dense",)
    activations: tuple = ("relu",)  # activations.ACTIVATIONS names
    domains: tuple = ("box",)

    def check(self, owner: str, target: Network) -> None:
        """Refuse a target with a layer type or activation this construction cannot build."""
        # layer types first: a pooling or flatten layer carries the identity "activation",
        # which would otherwise be named as the reason
        for layer in getattr(target, "layers", ()):
            kind = type(layer).__name__
            if kind not in self.layers:
                hint = ("" if self.layers != ("Dense",) else
                        "; convolutional and residual targets are built by the conv 2l "
                        "construction (Python: lotteryproofs.construct.get_conv_construction)")
                raise _validate.InputError(
                    f"{owner} supports the layer types {', '.join(self.layers)}, not {kind}"
                    f"{hint}")
        # every hidden activation (Network.activation is None when they differ)
        for activation in getattr(target, "activations", ()):
            self.check_activation(owner, activation.spec)


    def check_activation(self, owner: str, spec: str) -> None:
        """Refuse an activation (a registry spec: "tanh", "leaky_relu:0.1") by the one-line
        message that names the pair and what is supported."""
        name = spec.partition(":")[0]
        if name not in self.activations:
            raise _validate.InputError(f"{owner} does not support activation {spec} "
                                       f"(supported: {', '.join(self.activations)})")


@dataclass(frozen=True, eq=False)
class BuildInput:
    """What a construction's ``build`` receives: the target, the drawn source (and its
    unit-scale parameters, :func:`lotteryproofs.construct.common.unit_parameters`), the box,
    ε', ρ, its validated options and the rng (after the draw: widening draws from it)."""

    target: Network
    draw: object
    unit: object
    domain: Box
    eps_param: float
    rho: int
    options: Mapping
    rng: np.random.Generator


@dataclass(frozen=True, eq=False)
class Built:
    """A construction's result: the (possibly widened) source with its layer scales, one
    weight and one bias mask per source layer, the solved instances, the layout metadata that
    ``represent`` reads back, and the widening record (None without widening)."""

    source: Network
    layer_scales: tuple
    weight_masks: tuple
    bias_masks: tuple
    solved: list
    layout: Mapping
    widening: Mapping | None = None


@dataclass(frozen=True)
class Construction:
    """One construction of THEORY.md §4 (see the module docstring)."""

    name: str
    label: str
    summary: str
    default_init: str
    bound: BoundSpec
    source_widths: Callable = field(repr=False)
    build: Callable = field(repr=False)
    represent: Callable = field(repr=False)
    #: (masked network, metadata, absolute=False) -> ``represent`` of its unit-scale form (of
    #: |θ| with absolute=True) read from its nonzero entries without the dense unit-scale
    #: network, or None (then the dense path); None for a construction without one
    represent_masked: Callable | None = field(default=None, repr=False)
    #: (target, rho, options, negative_inputs: bool, widening record | None) -> the layout
    #: metadata ``build`` writes (lotteryproofs.ticket_checks compares a file's with it)
    expected_layout: Callable | None = field(default=None, repr=False)
    #: (target, scheme name) -> scheme options drawn with unless the user gives them; from
    #: the target's structure only (its activations' types), never its values
    init_defaults: Callable | None = field(default=None, repr=False)
    options: tuple[Option, ...] = ()
    supports: Supports = Supports()
    #: appended to a requested scheme that lacks it (the zero-bias baseline: "-zero-bias")
    init_suffix: str = ""
    #: the source must be mirrored (looks-linear); otherwise a mirrored source is refused
    mirrored_source: bool = False

    @property
    def owner(self) -> str:
        return f"the {self.name} construction"

    def validate_options(self, given: Mapping) -> dict:
        """This construction's options: ``given`` checked against the declaration, the rest
        at their declared defaults."""
        return validate_options(self.owner, self.options, given)

    def check_rho(self, rho: int) -> int:
        multiple = self.bound.rho_multiple
        if rho % multiple:
            need = "an even rho" if multiple == 2 else f"rho divisible by {multiple}"
            raise _validate.InputError(f"{self.owner} needs {need}, got {rho}")
        return rho

    def resolve_init(self, init: str | None) -> str:
        """The scheme to draw from: the default, or ``init`` with this construction's rule."""
        from lotteryproofs.init import SCHEMES

        init = self.default_init if init is None else init
        if self.init_suffix and not init.endswith(self.init_suffix):
            init = f"{init}{self.init_suffix}"
        if init not in SCHEMES:
            raise _validate.InputError(
                f"unknown initialisation scheme {init!r} for method {self.name}; known: "
                f"{', '.join(sorted(SCHEMES))}")
        mirrored = init == MIRRORED_SCHEME
        if self.mirrored_source and not mirrored:
            raise _validate.InputError(
                f"method {self.name} needs the {MIRRORED_SCHEME} scheme, got {init!r}")
        if mirrored and not self.mirrored_source:
            raise _validate.InputError(
                f"method {self.name} needs an i.i.d. scheme (uniform, normal); use the "
                f"looks-linear construction for {MIRRORED_SCHEME} sources")
        return init
