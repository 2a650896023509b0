"""``verify`` treats a ticket file as untrusted input (lotteryproofs.ticket_checks).

Tampered files are written with plain numpy (``np.load`` of a real ticket, one field changed,
``np.savez``); the command line runs in a subprocess for the issue's two reproductions (a
stored scale × 1.5, swapped L+1 copy owners relabelled in the metadata), the other fields
in-process through the same loader and check. What each test compares against is independent
of the code under test: the He scales' closed form √(6/n), the exact error of the tampered
network at a point (its own forward pass), the log's searched counts against the pool sizes
counted in the source, exact (Fraction) counting bounds.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs import cli, io
from lotteryproofs._validate import InputError
from lotteryproofs.construct import construct, construction_names, get_construction
from lotteryproofs.construct.common import MAX_SEARCHED
from lotteryproofs.network import Box, Network
from lotteryproofs.targets import random_target
from lotteryproofs.ticket_checks import TicketMismatch, check_ticket

ROOT = Path(__file__).resolve().parents[1]
TARGET = "random:2-3-2"


def _target() -> Network:
    return io.load_target(TARGET)


def _cli(argv, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "lotteryproofs", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _tamper(src: Path, dst: Path, *, arrays=None, metadata=None) -> Path:
    """dst = src with ``arrays(dict)`` / ``metadata(dict)`` applied, written by np.savez."""
    with np.load(src, allow_pickle=False) as data:
        content = {k: data[k] for k in data.files}
    meta = json.loads(str(content.pop("metadata")[()]))
    if arrays is not None:
        arrays(content)
    if metadata is not None:
        metadata(meta)
    np.savez(dst, **content, metadata=np.array(json.dumps(meta)))
    return dst


@pytest.fixture(scope="module")
def tickets(tmp_path_factory):
    """Genuine ticket files: every method (compact and full source), one widened."""
    folder = tmp_path_factory.mktemp("tickets")
    target = _target()
    out = {}
    for method in construction_names():
        ticket = construct(target, method, eps_param=0.1, delta=0.1, rng=3, rho=8)
        for store in (False, True):
            path = folder / f"{method}-{'full' if store else 'compact'}.npz"
            io.save_ticket(ticket, path, store_source=store)
            out[method, store] = path
    widened = construct(target, "2l", eps_param=0.01, delta=0.1, rng=0, rho=2, widen=True)
    assert widened.metadata["widening"]["rounds"] > 0
    out["widened"] = folder / "widened.npz"
    io.save_ticket(widened, out["widened"])
    return out


def _check(path) -> tuple[str, ...]:
    return check_ticket(io.load_ticket(path), _target())


def test_genuine_tickets_pass_every_check(tickets):
    for key, path in tickets.items():
        notes = _check(path)
        if key == "widened":
            assert any("after seeing failures" in n for n in notes), notes


@settings(max_examples=12, deadline=None)
@given(method=st.sampled_from(construction_names()),
       widths=st.lists(st.integers(1, 3), min_size=2, max_size=4),
       lo=st.sampled_from((-1.0, 0.0, 0.25)), rho=st.sampled_from((2, 4, 6)),
       seed=st.integers(0, 2**16), compact=st.booleans(), widen=st.booleans())
def test_no_genuine_ticket_is_rejected(tmp_path_factory, method, widths, lo, rho, seed, compact,
                                       widen):
    """Every ticket construct() makes, saved and loaded, passes every check (no false alarm),
    over methods, depths 1–3, boxes with and without negative inputs, widening."""
    target = random_target(tuple(widths), np.random.default_rng(seed), zero_fraction=0.2)
    box = Box.cube(lo, 1.0, widths[0])
    options = {"widen": widen} if widen and method in ("2l", "ll", "zero-bias") else {}
    ticket = construct(target, method, eps_param=0.05, delta=0.1, rng=seed, rho=rho,
                       domain=box, keep_source=not compact, **options)
    path = tmp_path_factory.mktemp("genuine") / "t.npz"
    io.save_ticket(ticket, path, store_log=True)
    check_ticket(io.load_ticket(path), target)


def test_a_tanh_ticket_verifies_and_its_activations_are_not_believed(tmp_path, capsys):
    """The general L+1 layout records the source's activations (identity, then the target's):
    recomputed from the target, so a file claiming other activations is rejected."""
    from lotteryproofs.activations import get_activation

    base = random_target((2, 3, 2), np.random.default_rng(5))
    target = Network(base.weights, base.biases, activations=(get_activation("tanh"),))
    ticket = construct(target, "l+1-general", eps_param=0.1, delta=0.1, rng=1, rho=6)
    path = tmp_path / "t.npz"
    io.save_ticket(ticket, path)
    check_ticket(io.load_ticket(path), target)
    io.save_target(target, tmp_path / "tanh.npz")
    assert cli.main(["verify", str(path), "--target", str(tmp_path / "tanh.npz")]) == 0
    printed = capsys.readouterr().out
    # φ is evaluated in float64 and no a-priori bound is proven: the summary says both
    assert "(float64 estimate, worst input found)" in printed
    assert "inf   (none proven for this target)" in printed

    def relabel(meta):
        assert meta["layout"]["activations"] == ["identity", "tanh"]
        meta["layout"]["activations"] = ["identity", "sigmoid"]

    forged = _tamper(path, tmp_path / "forged.npz", metadata=relabel)
    with pytest.raises(TicketMismatch) as info:
        check_ticket(io.load_ticket(forged), target)
    assert info.value.field.startswith("layout"), str(info.value)


# ----------------------------------------------------------------------------- the scale Λ
def test_scale_times_one_point_five_is_rejected_by_the_command(tickets, tmp_path):
    path = _tamper(tickets["2l", False], tmp_path / "t.npz",
                   arrays=lambda a: a.__setitem__("scale", a["scale"] * 1.5))
    result = _cli(["verify", str(path), "--target", TARGET], tmp_path)
    assert result.returncode == 1, result.stderr
    line = _rejection(result)
    assert "'scale'" in line
    # Λ = Π σ_l with the He closed form σ_l = √(6/n_{l−1}) (uniform law) of the source widths
    widths = get_construction("2l").source_widths((2, 3, 2), 8, {})
    want = math.prod(math.sqrt(6.0 / n) for n in widths[:-1])
    assert repr(want * 1.5) in line and repr(want) in line
    assert result.stdout.count("certified") == 0  # no certificate printed for it


def _flip_failed(meta, arrays):
    """Every log row's failed flag flipped, the recorded failure count kept consistent."""
    arrays["rss.failed"] = ~arrays["rss.failed"]
    meta["rss_failures"] = int(arrays["rss.failed"].sum())


def _drop_last_row(meta, arrays):
    """The log's last instance removed (columns and its chosen subset), counts consistent."""
    ptr = arrays["rss.chosen_ptr"]
    for key in [k for k in arrays if k.startswith("rss.")]:
        if key not in ("rss.chosen_ptr", "rss.chosen"):
            arrays[key] = arrays[key][:-1]
    arrays["rss.chosen"] = arrays["rss.chosen"][: ptr[-2]]
    arrays["rss.chosen_ptr"] = ptr[:-1]
    meta["rss_failures"] = int(arrays["rss.failed"].sum())


def _rejection(result) -> str:
    """The one stderr line of a rejected ticket (notes on the target may precede it)."""
    lines = [line for line in result.stderr.strip().splitlines() if ": note: " not in line]
    assert len(lines) == 1 and "rejected: " in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("field, change", [
    # λ_l and Λ changed together (Λ = Π λ_l still holds): the scales are not the source's
    ("layer_scales", lambda m, a: (m.__setitem__("layer_scales",
                                                 [2 * s for s in m["layer_scales"]]),
                                   a.__setitem__("scale", a["scale"] * 2 ** len(
                                       m["layer_scales"])))),
    ("rho", lambda m, a: m.__setitem__("rho", 4)),
    ("target_widths", lambda m, a: m.__setitem__("target_widths", [2, 4, 2])),
    # another scheme the method accepts: its law disagrees with the recorded options
    ("init_options", lambda m, a: m.__setitem__("init", "normal")),
    ("init", lambda m, a: m.__setitem__("init", "looks-linear")),
    ("activation", lambda m, a: m.__setitem__("activation", "tanh")),
    ("rss_failures", lambda m, a: m.__setitem__("rss_failures", m["rss_failures"] + 1)),
    ("rss.target", lambda m, a: a.__setitem__("rss.target", a["rss.target"] + 0.5)),
    ("rss.failed", lambda m, a: _flip_failed(m, a)),
    ("rss", lambda m, a: _drop_last_row(m, a)),
    ("notes", lambda m, a: m.__setitem__("notes", ["widths fixed before the target was seen"])),
    ("layout.pairs[0].owners", lambda m, a: m["layout"]["pairs"][0].__setitem__(
        "owners", [[1, 0, 8], [0, 8, 8], [2, 16, 8]])),
    # the ticket was built on [−1, 1]²: a box [0, 1]² contradicts its negative parts
    ("layout.pairs[0].negative_built", lambda m, a: m.__setitem__(
        "domain", Box.cube(0.0, 1.0, 2).to_json())),
])
def test_each_metadata_field_that_disagrees_is_named(tickets, tmp_path, field, change):
    meta_change = {}

    def arrays(a):
        meta_change["arrays"] = a

    def metadata(m):
        change(m, meta_change["arrays"])

    path = _tamper(tickets["2l", True], tmp_path / "t.npz", arrays=arrays, metadata=metadata)
    with pytest.raises(TicketMismatch) as info:
        _check(path)
    assert info.value.field == field or info.value.field.startswith(field + "["), \
        str(info.value)


def test_negative_part_kept_where_the_box_is_nonnegative(tickets, tmp_path):
    """The layout flag relabelled too: the masks themselves still contradict the box."""
    def metadata(m):
        m["domain"] = Box.cube(0.0, 1.0, 2).to_json()
        m["layout"]["pairs"][0]["negative_built"] = False

    path = _tamper(tickets["2l", True], tmp_path / "t.npz", metadata=metadata)
    ticket = io.load_ticket(path)
    from lotteryproofs.construct import represented_layers

    assert np.any(represented_layers(ticket)[0].negative != 0)  # what the check must see
    with pytest.raises(TicketMismatch) as info:
        check_ticket(ticket, _target())
    assert info.value.field == "domain"


def test_compact_ticket_metadata_must_match_its_seeded_source(tickets, tmp_path):
    def metadata(m):
        m["init_options"] = {**m["init_options"], "bias_factor": 2.0}

    path = _tamper(tickets["2l", False], tmp_path / "t.npz", metadata=metadata)
    with pytest.raises(TicketMismatch) as info:
        _check(path)
    assert info.value.field == "source"


def test_a_given_rho_relabelled_a_priori_is_recomputed(tickets, tmp_path):
    def metadata(m):
        m["rho_source"], m["lueker_c"] = "a_priori", 4.3

    path = _tamper(tickets["2l", True], tmp_path / "t.npz", metadata=metadata)
    with pytest.raises(TicketMismatch) as info:
        _check(path)
    assert info.value.field == "rho" and "width theorem gives" in str(info.value)


def test_gain_budget_of_bounded_gain_is_recomputed(tickets, tmp_path):
    """A copy weight scaled up past |w| + γ (source value and, by scaling λ, nothing else):
    the method's a-priori bound would assume the budget, so the claim is refused."""
    ticket = io.load_ticket(tickets["l+1-bounded", True])
    w = ticket.source.weights[2] * ticket.weight_masks[2]
    row, col = np.unravel_index(np.argmax(np.abs(w)), w.shape)

    def arrays(a):
        weight = a["layers.2.weight"].copy()
        weight[row, col] *= 1e3
        a["layers.2.weight"] = weight

    path = _tamper(tickets["l+1-bounded", True], tmp_path / "t.npz", arrays=arrays)
    with pytest.raises(TicketMismatch) as info:
        _check(path)
    assert info.value.field == "method"


def test_malformed_metadata_is_bad_input(tickets, tmp_path):
    path = _tamper(tickets["2l", True], tmp_path / "t.npz",
                   metadata=lambda m: m.__setitem__("rho", "eight"))
    with pytest.raises(InputError, match="'rho' must be an integer"):
        _check(path)


# ------------------------------------------------------------------------ the L+1 copy owners
def _swap_owner_target() -> Network:
    return Network((np.array([[1.0], [-0.5]]), np.array([[0.8, -0.3]])),
                   (np.array([0.2, 0.1]), np.array([0.1])))


def test_swapped_copy_owners_are_rejected_and_not_believed(tmp_path):
    """The issue's reproduction: the output layer reads the copies of hidden neuron 1 where
    those of neuron 0 belong (and vice versa), the metadata's owners relabelled to match."""
    target = _swap_owner_target()
    io.save_target(target, tmp_path / "tgt.npz")
    rho = 8
    ticket = construct(target, "l+1", eps_param=0.05, delta=0.1, rng=1, rho=rho)
    io.save_ticket(ticket, tmp_path / "t.npz", store_source=True)
    block0, block1 = slice(0, rho), slice(rho, 2 * rho)

    def arrays(a):
        for key in ("layers.2.weight", "layers.2.weight_mask"):
            m = a[key].copy()
            m[:, block0], m[:, block1] = a[key][:, block1], a[key][:, block0]
            a[key] = m

    def metadata(m):
        m["layout"]["owners"][1] = [[1, 0, rho], [0, rho, rho], [2, 2 * rho, rho]]

    bad = _tamper(tmp_path / "t.npz", tmp_path / "swapped.npz", arrays=arrays,
                  metadata=metadata)
    result = _cli(["verify", "swapped.npz", "--target", "tgt.npz"], tmp_path)
    assert result.returncode == 1, result.stderr
    assert "'layout.owners[1]" in _rejection(result)

    # the read-back no longer believes the owners: the certificate (checks bypassed) of the
    # swapped ticket bounds its exact error at x = ±1 (its own forward pass)
    from lotteryproofs.certify import certify

    swapped = io.load_ticket(bad)
    cert = certify(swapped, target, Box.cube(-1.0, 1.0, 1), n_samples=200)
    x = np.array([[-1.0], [1.0]])
    exact = float(np.max(np.abs(swapped.approximation(x) - target.forward(x))))
    assert exact > 0.5  # the swap really changes the function
    assert cert.certified_output_error >= exact


# ------------------------------------------------------------------ observed > certified
def test_contradicted_certificate_exits_1_with_both_numbers(tickets, tmp_path, capsys,
                                                           monkeypatch):
    module = importlib.import_module("lotteryproofs.certify")
    real = module.certify

    def too_small(*args, **kwargs):
        cert = real(*args, **kwargs)
        return dataclasses.replace(cert, certified_output_error=cert.observed_output_error / 2)

    monkeypatch.setattr(module, "certify", too_small)
    out = tmp_path / "c.json"
    code = cli.main(["verify", str(tickets["2l", False]), "--target", TARGET, "--json", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and "contradicted by its own observation" in err[0]
    observed = float(err[0].split("observed ")[1].split(" >")[0])
    certified = float(err[0].split("certified ")[1])
    assert observed > certified > 0 and certified == observed / 2
    assert not out.exists()


# ------------------------------------------------------------ the a-priori ρ and the cap
def test_a_priori_rho_refused_where_the_capped_search_cannot_reach(tmp_path):
    target = random_target((2, 3, 1), np.random.default_rng(0))
    eps = 1e-13
    z = max(float(np.max(np.abs(p))) for p in (*target.weights, *target.biases))
    reach = Fraction(2) ** MAX_SEARCHED * 2 * Fraction(eps)
    assert reach < 2 * Fraction(z)  # 2^40 · 2ε' < 2z: some target in [−z, z] is unreachable
    with pytest.raises(InputError, match="no ρ makes P\\(any failure\\) ≤ δ true") as info:
        construct(target, "zero-bias", eps_param=eps, delta=0.1, rng=0)
    assert f"{float(reach):.3g}" in str(info.value)
    # an explicit ρ claims nothing: built, its failures reported
    ticket = construct(target, "zero-bias", eps_param=eps, delta=0.1, rng=0, rho=4)
    assert ticket.metadata["rho_source"] == "given" and not ticket.metadata["notes"]


def test_a_priori_note_says_the_search_truncates_pools():
    """The a-priori ρ exceeds the cap, and the source really has pools longer than what the
    log says was searched: the note that the guarantee is not proven is warranted."""
    target = random_target((2, 3, 1), np.random.default_rng(0))
    ticket = construct(target, "2l", eps_param=0.2, delta=0.5, rng=0)
    rho = ticket.metadata["rho"]
    assert rho > MAX_SEARCHED
    notes = ticket.metadata["notes"]
    assert any("after seeing the target's norms" in n for n in notes)
    assert any("is not proven" in n and f"up to {rho} candidates" in n for n in notes)
    # positive pools of block layer 0: neurons of block i with u > 0, counted in the source
    u = ticket.source.weights[0]
    pools = [int(np.sum(u[i * rho:(i + 1) * rho, i] > 0)) for i in range(2)]
    assert max(pools) > MAX_SEARCHED
    assert int(ticket.rss_log.n_candidates.max()) == MAX_SEARCHED
    assert check_ticket(ticket, target) == tuple(notes)  # the a-priori ρ recomputed


def test_no_truncation_at_rho_within_the_cap():
    """ρ ≤ MAX_SEARCHED: every pool is searched whole (the log's searched counts are the
    pool sizes counted in the source), the condition under which the theorem's δ is about the
    search that runs."""
    from lotteryproofs.construct.sizing import guarantee_holds
    from lotteryproofs.ticket import PART_BIAS, PART_POSITIVE

    target = random_target((2, 3, 1), np.random.default_rng(0))
    rho = MAX_SEARCHED
    ticket = construct(target, "2l", eps_param=0.2, delta=0.5, rng=0, rho=rho)
    assert guarantee_holds(get_construction("2l").bound, rho)
    assert not guarantee_holds(get_construction("2l").bound, rho + 1)
    assert guarantee_holds(get_construction("ll").bound, 2 * rho)  # mirror pools: ρ/2
    u, c = ticket.source.weights[0], ticket.source.biases[0]
    log = ticket.rss_log
    first = log.layer == 0
    for m in np.flatnonzero(first & (log.part == PART_POSITIVE)):
        i = int(log.col[m])
        assert log.n_candidates[m] == np.sum(u[i * rho:(i + 1) * rho, i] > 0)
    for m in np.flatnonzero(first & (log.part == PART_BIAS)):
        assert log.n_candidates[m] == np.sum(c[2 * rho:3 * rho] > 0)


def test_a_priori_rho_depends_on_the_target_norms():
    """Why the note is needed: the same widths' target × 5 gets another a-priori ρ."""
    from lotteryproofs.construct import a_priori_rho

    target = random_target((2, 3, 1), np.random.default_rng(0))
    scaled = Network(tuple(5 * w for w in target.weights), tuple(5 * b for b in target.biases))
    assert a_priori_rho("2l", scaled, 0.1, 0.1) > a_priori_rho("2l", target, 0.1, 0.1)


def test_widening_note_counts_the_added_neurons(tickets):
    ticket = io.load_ticket(tickets["widened"])
    base = get_construction("2l").source_widths((2, 3, 2), 2, {})
    added = sum(ticket.source_widths) - sum(base)
    assert added > 0
    (note,) = [n for n in ticket.metadata["notes"] if "after seeing failures" in n]
    assert f"added {added} neurons" in note


def test_a_file_without_a_later_scheme_option_is_read_at_its_default(tickets, tmp_path):
    """A file written before the i.i.d. schemes gained ``weight_scale`` does not name it: its
    source was drawn at the default (He), so it verifies; naming the other value does not."""
    def drop(meta):
        assert meta["init_options"].pop("weight_scale") == "he"

    old = _tamper(tickets["2l", True], tmp_path / "old.npz", metadata=drop)
    _check(old)

    def unit(meta):
        meta["init_options"]["weight_scale"] = "unit"

    forged = _tamper(tickets["2l", True], tmp_path / "unit.npz", metadata=unit)
    with pytest.raises(TicketMismatch):
        _check(forged)
