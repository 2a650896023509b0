"""The registered constructions, by name (THEORY.md §4; docs/architecture.md).

Each construction module defines one :class:`~lotteryproofs.construct.base.Construction`
record; adding a construction is one new module and its entry in :data:`_MODULES` (and the
import beside it). Everything that needs a method (the CLI's ``--method`` choices, bounds,
certify, checks, figures) looks it up here; nothing else compares method names.
"""

from __future__ import annotations

from types import MappingProxyType

from lotteryproofs import _validate
from lotteryproofs.construct import (
    bounded_gain,
    conv_bounded_gain,
    conv_l_plus_one,
    conv_two_layer,
    l_plus_one,
    l_plus_one_general,
    looks_linear,
    two_layer,
    zero_bias,
)
from lotteryproofs.construct.base import Construction

_MODULES = (two_layer, looks_linear, l_plus_one, bounded_gain, zero_bias, l_plus_one_general)

#: name → Construction, in the order of THEORY.md §4.
CONSTRUCTIONS = MappingProxyType({m.CONSTRUCTION.name: m.CONSTRUCTION for m in _MODULES})


#: name → the constructions over convolutional targets (Conv2d, pools, Flatten, a final Dense),
#: each declaring what it supports (``supports.check``); proofs/conv-2l-construction.md.
CONV_CONSTRUCTIONS = MappingProxyType({m.CONSTRUCTION.name: m.CONSTRUCTION
                                       for m in (conv_two_layer, conv_l_plus_one,
                                                 conv_bounded_gain)})


def get_conv_construction(name):
    """The convolutional construction registered as ``name``, or an InputError listing them."""
    if isinstance(name, str) and name in CONV_CONSTRUCTIONS:
        return CONV_CONSTRUCTIONS[name]
    raise _validate.InputError(f"unknown method {name!r} for convolutional targets; methods: "
                               f"{', '.join(CONV_CONSTRUCTIONS)}")


def construction_names() -> tuple[str, ...]:
    """The registered method names, in the order of THEORY.md §4."""
    return tuple(CONSTRUCTIONS)


def method_help() -> str:
    """The ``--method`` help of the commands, from the registry: each name with its label and
    THEORY.md section."""
    return "construction: " + "; ".join(
        f"{c.name} ({c.label}, {c.summary.split()[0]})" for c in CONSTRUCTIONS.values()
    )


def get_construction(name) -> Construction:
    """The construction registered as ``name`` (a Construction is returned as is), or an
    InputError listing the registered names."""
    if isinstance(name, Construction):
        return name
    if isinstance(name, str) and name in CONSTRUCTIONS:
        return CONSTRUCTIONS[name]
    raise _validate.InputError(
        f"unknown method {name!r}; methods: {', '.join(CONSTRUCTIONS)}")


def supported_activations() -> tuple[str, ...]:
    """The activation names some construction supports (their ``Supports`` declarations)."""
    names: dict[str, None] = {}
    for construction in CONSTRUCTIONS.values():
        names.update(dict.fromkeys(construction.supports.activations))
    return tuple(names)


def check_supported(method, target=None, *, activations=()) -> None:
    """Refuse a (method, activation) pair the construction does not declare, in one line
    ("the 2l construction does not support activation tanh (supported: relu)"): the target's
    activations and/or the given specs. The commands call it before any work."""
    construction = get_construction(method)
    if target is not None:
        construction.supports.check(construction.owner, target)
    for spec in activations:
        construction.supports.check_activation(construction.owner, spec)
