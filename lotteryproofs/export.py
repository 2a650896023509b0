"""A ticket as a file other tools read: the standalone network, PyTorch's pruning state dict,
or the full source (``lotteryproofs export``; docs/files.md).

* ``network``: the pruned network on its own, Λ⁻¹ folded into the last layer, so that it
  computes the ticket's approximation Λ⁻¹·f_S(x) of the target (THEORY.md §1) — a target file
  (``layers.{i}.weight|bias``) every command reads. Hidden neurons that cannot matter are
  removed (:func:`lotteryproofs.construct.common.compact`: only zero terms are dropped).
* ``torch-prune``: the state dict ``torch.nn.utils.prune.custom_from_mask`` leaves on an
  ``nn.Sequential`` of Linear and ReLU modules (Linear modules at 0, 2, 4, …): per Linear
  ``{i}.weight_orig``, ``{i}.bias_orig`` (the source) and ``{i}.weight_mask``,
  ``{i}.bias_mask`` (0/1 in the weight's dtype, as torch stores them), plus Λ under
  :data:`OUTPUT_SCALE_KEY` (pop it before ``load_state_dict``; the module computes f_S, the
  target is approximated by f_S / Λ).
* ``source``: the ticket with its whole source, as ``construct --store-source`` writes it.

A ticket whose source has convolutional, pooling or residual layers exports the same way in
the nn.Sequential naming of its architecture (:mod:`lotteryproofs.architecture`): ``network``
is a convolutional target file (Λ⁻¹ folded into the last layer; a convolutional ticket's
block channels that cannot matter are removed, ``ConvTicket.compact_network``),
``torch-prune`` names every module's ``weight_orig``/``_mask`` at its architecture index
and records ``architecture`` and ``input_shape`` in the metadata.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.architecture import architecture_arrays
from lotteryproofs.construct.common import compact
from lotteryproofs.network import Network, network_sha256
from lotteryproofs.ticket import ConvTicket, Ticket

FORMATS = ("network", "torch-prune", "source")
#: The key of Λ in a torch-prune export (not a parameter of the module).
OUTPUT_SCALE_KEY = "lotteryproofs.output_scale"


def _divided(layer, scale: float):
    """The layer with its weight and bias divided by Λ (Dense or Conv2d)."""
    if len(layer.parameters) != 2:
        raise _validate.InputError(
            f"cannot fold Λ into a last layer of kind {layer.kind} (it has no single weight "
            "and bias): export --format torch-prune or source instead")
    return dataclasses.replace(layer, weight=layer.weight / scale, bias=layer.bias / scale)


def standalone_network(ticket: Ticket) -> Network:
    """Λ⁻¹·f_S as a network of its own: unused neurons removed, the last layer divided by Λ."""
    if not ticket.source.is_dense:
        # a convolutional ticket without its dead block channels (only zero terms leave)
        net = ticket.compact_network() if isinstance(ticket, ConvTicket) else ticket.network
        layers = net.layers[:-1] + (_divided(net.layers[-1], ticket.scale),)
        return Network.from_layers(layers, net.activations)
    net = compact(ticket.network)
    weights, biases = list(net.weights), list(net.biases)
    weights[-1] = weights[-1] / ticket.scale
    biases[-1] = biases[-1] / ticket.scale
    return Network(tuple(weights), tuple(biases), activations=net.activations)


def network_metadata(ticket: Ticket) -> dict:
    """What the exported target file says about where it came from (and its input box)."""
    meta = ticket.metadata
    acts = ticket.network.activations
    # one name when every hidden layer has it, else one per hidden layer (a general-L+1
    # ticket: identity, then the target's φ)
    same = len({a.spec for a in acts}) <= 1
    out = {"activation": acts[0].spec if same and acts else ("relu" if same else
                                                             [a.spec for a in acts]),
           "output_activation": "identity",
           "exported_from": {k: meta.get(k) for k in ("method", "init", "seed", "eps_param",
                                                       "target_sha256", "version")}}
    domain = meta.get("domain")
    if isinstance(domain, dict) and {"lower", "upper"} <= set(domain):
        out["input_box"] = {"lower": domain["lower"], "upper": domain["upper"]}
    return out


def _flat_masks(full: Ticket) -> list[np.ndarray]:
    """One mask per entry of the source's ``parameter_arrays`` (weight, bias per layer)."""
    if isinstance(full, ConvTicket):  # it holds them so already
        return list(full.masks)
    masks = []
    for layer, wm, bm in zip(full.source.layers, full.weight_masks, full.bias_masks,
                             strict=True):
        if layer.parameters:
            masks += [wm, bm]
    return masks


def _torch_prune_conv(full: Ticket) -> dict[str, np.ndarray]:
    named, _ = architecture_arrays(full.source)
    masks = _flat_masks(full)
    arrays: dict[str, np.ndarray] = {}
    for (key, value), mask in zip(named.items(), masks, strict=True):
        if value.shape != np.shape(mask):
            raise AssertionError(f"mask of {key} has shape {np.shape(mask)}, not {value.shape}")
        arrays[f"{key}_orig"] = value
        arrays[f"{key}_mask"] = np.asarray(mask).astype(value.dtype)
    arrays[OUTPUT_SCALE_KEY] = np.array([full.scale], dtype=np.float64)
    return arrays


def torch_prune_arrays(full: Ticket) -> dict[str, np.ndarray]:
    """The custom_from_mask state dict of a ticket holding its whole source (module docstring)."""
    if not full.source.is_dense:
        return _torch_prune_conv(full)
    if not full.network.is_relu:
        from lotteryproofs import _validate

        raise _validate.InputError(
            "torch-prune describes an nn.Sequential with ReLU between the Linear modules; this "
            "ticket's activations are "
            f"{', '.join(a.spec for a in full.network.activations)} (export --format network)")
    arrays: dict[str, np.ndarray] = {}
    for layer, (w, b, wm, bm) in enumerate(zip(full.source.weights, full.source.biases,
                                               full.weight_masks, full.bias_masks, strict=True)):
        i = 2 * layer  # nn.Sequential(Linear, ReLU, Linear, …)
        arrays[f"{i}.weight_orig"] = w
        arrays[f"{i}.bias_orig"] = b
        arrays[f"{i}.weight_mask"] = wm.astype(w.dtype)
        arrays[f"{i}.bias_mask"] = bm.astype(b.dtype)
    arrays[OUTPUT_SCALE_KEY] = np.array([full.scale], dtype=np.float64)
    return arrays


def torch_prune_metadata(full: Ticket) -> dict:
    meta = {"format": "torch-prune", "output_scale_key": OUTPUT_SCALE_KEY,
            "source_sha256": network_sha256(full.source),
            "modules": "nn.Sequential of Linear at 0, 2, 4, … with ReLU between"}
    if not full.source.is_dense:
        meta.update(architecture_arrays(full.source)[1])
        meta["modules"] = "nn.Sequential of the architecture list"
    return meta
