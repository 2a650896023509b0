"""Parameter names of a target file → the Linear layers of a network, or a refusal.

A target file holds the weights W_l (shape (out, in)) and biases b_l of the network
x⁽ˡ⁾ = σ(W_l x⁽ˡ⁻¹⁾ + b_l) of THEORY.md §0 under one of two namings (docs/files.md):

* canonical: ``layers.{l}.weight`` / ``layers.{l}.bias``, l = 0 … L−1, no index missing;
* PyTorch ``nn.Sequential``: ``{m}.weight`` / ``{m}.bias`` with m the module index. The
  modules without parameters (the activations, Dropout, Flatten) leave gaps: Linear, ReLU,
  Linear saves ``0.*`` and ``2.*``. Two Linear layers at adjacent indices have nothing between
  them, which no ReLU network has, so they are refused; so is a gap after which the shapes do
  not chain (a module with parameters is missing).

Either naming may carry ``torch.nn.utils.prune`` names: ``weight_orig`` and ``weight_mask``
(and ``bias_orig``/``bias_mask``) read as orig × mask, the mask checked to be 0/1 and shaped
like orig. Every array of the file must be understood: a parameter no Linear layer has
(BatchNorm's ``running_mean``, a 1-D LayerNorm weight, a 4-D convolution kernel) is refused
with the module it belongs to, and so is any key outside these namings. Values are read
exactly into float64: complex, non-numeric and wider-than-float64 dtypes are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from lotteryproofs._validate import InputError

_KEY = re.compile(r"^(?P<prefix>layers\.)?(?P<index>\d+)\.(?P<name>.+)$")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_]\w*\.(weight|bias)(_orig|_mask)?$")
_PREFIXED_SEQUENTIAL = re.compile(
    r"^(?P<prefix>(?:[A-Za-z_]\w*\.)+)\d+\.(weight|bias)(_orig|_mask)?$")
_LINEAR_NAMES = {"weight", "bias", "weight_orig", "weight_mask", "bias_orig", "bias_mask"}
_BATCHNORM_NAMES = ("running_mean", "running_var", "num_batches_tracked")
_CONVOLUTIONS = {3: "Conv1d", 4: "Conv2d", 5: "Conv3d"}
#: Ticket files (DESIGN.md "Ticket files") hold these beside the source's parameters.
_TICKET_KEYS = re.compile(r"^(scale|rss\..+)$")

_TRANSPOSED = (" (saved as (in, out)? a weight is (out, in), PyTorch's layout: transpose it)")
#: Integers above 2^53 are not all float64 numbers: reading them would round.
_EXACT_INTEGER = 2**53


@dataclass(frozen=True)
class Layers:
    """The layers read from a file, and how they were named (for what is said about them)."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    naming: str  # "canonical" or "sequential"
    #: the module index of each Linear layer (0 … L−1 for canonical names)
    indices: tuple[int, ...]

    def parameter_free_modules(self) -> str | None:
        """nn.Sequential modules that hold no parameters besides the activations, said in words.

        Between Linear layers m and m' the module m + 1 is taken as the activation; the others
        (m + 2 … m' − 1, Dropout say) and any module before the first Linear (Flatten) are taken
        as the identity, which is what Dropout and Flatten compute at evaluation.
        """
        if self.naming != "sequential":
            return None
        # runs [first, last] of such modules, written as ranges (indices may be huge)
        runs = [(0, self.indices[0] - 1)] if self.indices[0] > 0 else []
        runs += [(a + 2, b - 1) for a, b in zip(self.indices[:-1], self.indices[1:], strict=True)
                 if b - a > 2]
        if not runs:
            return None
        extra = ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)
        return (f"nn.Sequential modules {extra} hold no parameters and are "
                "not the activation after a Linear layer: taken as the identity (Flatten, Dropout "
                "at evaluation)")


def ticket_evidence(arrays: dict[str, np.ndarray]) -> str | None:
    """Why the arrays are a ticket's (masks beside the weights, a scale Λ, an RSS log), or None.

    torch.nn.utils.prune's ``weight_mask`` comes with ``weight_orig`` instead of ``weight``:
    that is a pruned target, not a ticket.
    """
    masks = sorted(k for k in arrays
                   if k.endswith("_mask") and k[:-5] in arrays and f"{k[:-5]}_orig" not in arrays)
    if masks:
        return f"it has masks beside the weights ({masks[0]!r} with {masks[0][:-5]!r})"
    if "scale" in arrays:
        return "it has a scale Λ ('scale')"
    if any(_TICKET_KEYS.match(key) for key in arrays):
        return "it has an RSS log ('rss.*')"
    return None


def real_array(origin: str, key: str, value, *, mask: bool = False) -> np.ndarray:
    """``value`` as float64, refusing what float64 would not hold exactly."""
    if not isinstance(value, np.ndarray):
        raise InputError(f"{origin}: {key!r} is not an array")
    kind = value.dtype.kind
    if kind == "c":
        raise InputError(
            f"{origin}: {key!r} has complex values (dtype {value.dtype}); a target's "
            "parameters must be real numbers"
        )
    if kind == "V":
        raise InputError(
            f"{origin}: {key!r} holds raw bytes (dtype {value.dtype.str}; a bfloat16 array "
            "saved through ml_dtypes?): save float32 or float64, or bfloat16 in .safetensors"
        )
    if kind not in "fiu" and not (mask and kind == "b"):
        raise InputError(f"{origin}: {key!r} is not numeric (dtype {value.dtype})")
    if kind == "f" and value.dtype.itemsize > 8:
        raise InputError(
            f"{origin}: {key!r} is {value.dtype} (extended precision); float64 would round "
            "its values: save float64"
        )
    if kind in "iu" and value.dtype.itemsize == 8 and value.size and (
        value.max() > _EXACT_INTEGER or (kind == "i" and value.min() < -_EXACT_INTEGER)
    ):
        raise InputError(f"{origin}: {key!r} has integers above 2^53, which float64 would round")
    # widening a signalling NaN raises the invalid flag; the Network refuses non-finite values
    with np.errstate(invalid="ignore"):
        return np.asarray(value, dtype=np.float64)


def _refuse_non_linear(origin: str, label: str, module: dict[str, np.ndarray]) -> None:
    """Refuse, naming the module, a parameter set that is not a Linear layer's."""
    names = set(module)
    unsupported = "only Linear layers with ReLU between them are supported"
    batchnorm = [n for n in _BATCHNORM_NAMES if n in names]
    if batchnorm:
        raise InputError(f"{origin}: {label} looks like BatchNorm ({batchnorm[0]}); {unsupported}")
    unknown = sorted(names - _LINEAR_NAMES)
    if unknown:
        name = unknown[0]
        if name.startswith(("weight_ih", "weight_hh", "bias_ih", "bias_hh")):
            kind = f"a recurrent layer (RNN/LSTM/GRU: {name})"
        elif name.startswith(("in_proj", "out_proj")):
            kind = f"attention (MultiheadAttention: {name})"
        elif name in ("weight_g", "weight_v") or name.startswith("parametrizations."):
            kind = (f"a weight-normalised or parametrized layer ({name}; remove the "
                    "parametrization before saving)")
        else:
            kind = f"a module that is not Linear (it has {name!r})"
        raise InputError(f"{origin}: {label} looks like {kind}; {unsupported}")
    weight = module.get("weight", module.get("weight_orig"))
    if weight is None:
        return
    ndim = np.ndim(weight)
    if ndim == 1:
        kind = ("LayerNorm or another normalisation (1-D weight)" if "bias" in names or
                "bias_orig" in names else "PReLU or a normalisation without bias (1-D weight)")
        raise InputError(f"{origin}: {label} looks like {kind}; {unsupported}")
    if ndim in _CONVOLUTIONS:
        raise InputError(
            f"{origin}: {label} looks like {_CONVOLUTIONS[ndim]} ({ndim}-D weight of shape "
            f"{tuple(np.shape(weight))}); {unsupported} unless the metadata declares the "
            "'architecture' and 'input_shape' (docs/files.md, \"Convolutional targets\")"
        )
    if ndim != 2:
        raise InputError(f"{origin}: {label} has a {ndim}-D weight; {unsupported}")


def _part(origin: str, label: str, prefix: str, module: dict, part: str) -> np.ndarray:
    """A Linear layer's weight or bias, plain or as torch.nn.utils.prune's orig × mask."""
    plain, orig, mask = module.get(part), module.get(f"{part}_orig"), module.get(f"{part}_mask")
    if plain is not None and orig is not None:
        raise InputError(f"{origin}: {label} has both {prefix}{part} and {prefix}{part}_orig")
    if orig is None and mask is not None:
        raise InputError(f"{origin}: {label} has {prefix}{part}_mask but no {prefix}{part}_orig")
    if orig is not None and mask is None:
        raise InputError(f"{origin}: {label} has {prefix}{part}_orig but no {prefix}{part}_mask")
    if plain is not None:
        return real_array(origin, f"{prefix}{part}", plain)
    if orig is None:
        if part == "bias":
            raise InputError(
                f"{origin}: {label} has no bias (an nn.Linear(bias=False)? save its zero bias "
                "explicitly)"
            )
        raise InputError(f"{origin}: {label} has a bias but no weight")
    orig = real_array(origin, f"{prefix}{part}_orig", orig)
    mask = real_array(origin, f"{prefix}{part}_mask", mask, mask=True)
    if mask.shape != orig.shape:
        raise InputError(
            f"{origin}: {prefix}{part}_mask has shape {mask.shape} but {prefix}{part}_orig has "
            f"{orig.shape}"
        )
    if not np.all((mask == 0) | (mask == 1)):
        bad = mask[(mask != 0) & (mask != 1)].flat[0]
        raise InputError(f"{origin}: {prefix}{part}_mask is not binary (0/1): it holds {bad}")
    # torch.nn.utils.prune computes weight = weight_orig * weight_mask; the same product here
    # (exact: the mask is 0 or 1).
    return orig * mask


#: One module's weight or bias (plain, or orig × mask), for the architecture reader.
module_part = _part

#: Keys of the metadata JSON (target_info.py) that a user may store as arrays by mistake.
_METADATA_KEYS = ("activation", "output_activation", "input_box", "provenance")


def _refuse_unknown_keys(origin: str, unknown: list[str], found_any: bool) -> None:
    sample = ", ".join(repr(k) for k in unknown[:3]) + (", …" if len(unknown) > 3 else "")
    misplaced = [k for k in unknown if k in _METADATA_KEYS]
    if misplaced:
        raise InputError(
            f"{origin}: {misplaced[0]!r} is an array, but it is a metadata key: store it in the "
            "'metadata' JSON string (np.array(json.dumps({…})))"
        )
    prefixed = [m for m in map(_PREFIXED_SEQUENTIAL.match, unknown) if m]
    if prefixed and not found_any:
        prefix = prefixed[0].group("prefix")
        raise InputError(
            f"{origin}: keys such as {prefixed[0].group(0)!r} belong to a module nested under "
            f"{prefix[:-1]!r}: strip the prefix {prefix!r} (nn.Sequential names are 0.weight, "
            "0.bias, 2.weight, …)"
        )
    if not found_any and any(_ATTRIBUTE_NAME.match(k) for k in unknown):
        raise InputError(
            f"{origin}: keys such as {sample} name modules by attribute, and the order they "
            "are applied in is not in the file: save them as layers.0.weight, layers.0.bias, "
            "layers.1.weight, … in forward order"
        )
    if not found_any:
        raise InputError(
            f"{origin}: no network parameters found (expected keys 'layers.0.weight', "
            f"'layers.0.bias', … or '0.weight', '0.bias', …; found {sample or 'no arrays'})"
        )
    raise InputError(
        f"{origin}: keys {sample} are not parameters of a Linear layer (a target holds "
        "layers.{i}.weight and layers.{i}.bias, or nn.Sequential names; see docs/files.md)"
    )


def read_layers(arrays: dict[str, np.ndarray], origin: str) -> Layers:
    """The Linear layers named in ``arrays`` (a target file's, without ``metadata``)."""
    modules: dict[int, dict[str, np.ndarray]] = {}
    namings, unknown = set(), []
    for key, value in arrays.items():
        match = _KEY.match(key)
        if match is None:
            unknown.append(key)
            continue
        index_text = match.group("index")
        if index_text != str(int(index_text)):  # 'layers.01' would alias 'layers.1'
            raise InputError(f"{origin}: {key!r} has the index {index_text!r} with a leading zero")
        namings.add("canonical" if match.group("prefix") else "sequential")
        modules.setdefault(int(index_text), {})[match.group("name")] = value
    if unknown or not modules:
        _refuse_unknown_keys(origin, sorted(unknown), bool(modules))
    if len(namings) > 1:
        raise InputError(
            f"{origin}: mixes layers.{{i}} names and nn.Sequential names ({{m}}.weight); "
            "use one naming"
        )
    naming = namings.pop()
    canonical = naming == "canonical"
    indices = tuple(sorted(modules))
    if canonical and indices != tuple(range(len(indices))):
        # the first index i with indices[i] != i (never materialise range(indices[-1]))
        missing = next(i for i, index in enumerate(indices) if index != i)
        raise InputError(
            f"{origin}: layers.{missing} is missing (found layers."
            f"{', layers.'.join(map(str, indices))}); canonical indices run 0, 1, 2, … without "
            "gaps (an nn.Sequential saved under 'layers'? name its keys 0.weight, 2.weight, …)"
        )
    weights, biases = [], []
    for position, index in enumerate(indices):
        module = modules[index]
        prefix = f"layers.{index}." if canonical else f"{index}."
        label = f"layers.{index}" if canonical else f"module {index}"
        _refuse_non_linear(origin, label, module)
        w = _part(origin, label, prefix, module, "weight")
        b = _part(origin, label, prefix, module, "bias")
        if b.ndim != 1:
            raise InputError(f"{origin}: {prefix}bias must be 1-dimensional, got shape {b.shape}")
        if b.shape[0] != w.shape[0]:
            raise InputError(
                f"{origin}: {prefix}bias has {b.shape[0]} entries but {prefix}weight has "
                f"{w.shape[0]} rows" + (_TRANSPOSED if b.shape[0] == w.shape[1] else "")
            )
        if position > 0:
            before = indices[position - 1]
            if not canonical and index == before + 1:
                raise InputError(
                    f"{origin}: modules {before} and {index} are both Linear layers with nothing "
                    f"between them (nn.Sequential index {index} follows {before}); a ReLU "
                    "network has an activation module between any two Linear layers"
                )
            if w.shape[1] != weights[-1].shape[0]:
                what = f"layers.{before}" if canonical else f"module {before}"
                hint = "" if canonical else " (is a module with parameters missing between them?)"
                if weights[-1].shape[1] == w.shape[0]:
                    hint = _TRANSPOSED
                raise InputError(
                    f"{origin}: {what} has {weights[-1].shape[0]} outputs but {label} expects "
                    f"{w.shape[1]} inputs{hint}"
                )
        weights.append(w)
        biases.append(b)
    return Layers(tuple(weights), tuple(biases), naming, indices)
