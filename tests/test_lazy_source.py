"""Sources drawn on demand (THEORY.md §10, proofs/lazy-source.md).

* Every tile drawn alone — in random order, in this process or in another one — is byte-equal
  to the same tile of the fully drawn source, for every scheme.
* The streamed sha256 equals network_sha256 of the fully drawn source.
* A construction that draws lazily gives the ticket it gives on the fully drawn source, and a
  compact ticket file round-trips (and refuses kept values that do not regenerate).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs import io
from lotteryproofs._validate import InputError
from lotteryproofs.init import SCHEMES, TILE, SourceSpec, Streams, looks_linear_blocks
from lotteryproofs.network import network_sha256

TILED = sorted(name for name, s in SCHEMES.items() if s.tiled)
OPTIONS = {"uniform": [{}, {"bias_rule": "constant", "bias_factor": 0.5}],
           "normal": [{}, {"bias_rule": "constant"}],
           "uniform-zero-bias": [{}], "normal-zero-bias": [{}]}


def _tile_slices(widths, layer, tr, tc):
    return (slice(tr * TILE, (tr + 1) * TILE), slice(tc * TILE, (tc + 1) * TILE))


def _all_tiles(widths):
    return [(layer, tr, tc) for layer in range(len(widths) - 1)
            for tr in range(-(-widths[layer + 1] // TILE))
            for tc in range(-(-widths[layer] // TILE))]


widths_st = st.lists(st.integers(1, 150), min_size=2, max_size=4)


@settings(max_examples=25, deadline=None)
@given(scheme=st.sampled_from(TILED), widths=widths_st, entropy=st.integers(0, 2**70),
       choice=st.integers(0, 1), order_seed=st.integers(0, 2**32 - 1))
def test_every_tile_alone_equals_the_full_draw(scheme, widths, entropy, choice, order_seed):
    options = OPTIONS[scheme][choice % len(OPTIONS[scheme])]
    spec = SourceSpec.make(scheme, widths, entropy=entropy, **options)
    full = spec.network()
    tiles = _all_tiles(widths)
    order = np.random.default_rng(order_seed).permutation(len(tiles))
    for k in order:
        layer, tr, tc = tiles[k]
        alone = SourceSpec.make(scheme, widths, entropy=entropy, **options)  # a fresh object
        got = alone.weight_tile(layer, tr, tc)
        want = full.weights[layer][_tile_slices(widths, layer, tr, tc)]
        assert got.tobytes() == want.tobytes()
    for layer in order[: len(widths) - 1] % (len(widths) - 1):
        assert spec.biases(int(layer)).tobytes() == full.biases[int(layer)].tobytes()
    assert spec.sha256() == network_sha256(full)


def test_tiles_drawn_in_another_process_are_the_same_bytes():
    """Every scheme: a child process draws the tiles in a random order and reports their
    sha256; they match the slices of the full draw made here."""
    cases = [("uniform", [70, 130, 3], {}), ("normal", [65, 64, 129], {"bias_rule": "constant"}),
             ("uniform-zero-bias", [5, 200], {}), ("normal-zero-bias", [129, 2, 66], {})]
    requests = []
    rng = np.random.default_rng(4)
    for scheme, widths, options in cases:
        tiles = _all_tiles(widths)
        for k in rng.permutation(len(tiles)):
            requests.append((scheme, widths, options, *map(int, tiles[k])))
    code = (
        "import hashlib, json, sys\n"
        "from lotteryproofs.init import SourceSpec\n"
        "out = []\n"
        "for scheme, widths, options, layer, tr, tc in json.load(sys.stdin):\n"
        "    spec = SourceSpec.make(scheme, widths, entropy=123456789, **options)\n"
        "    out.append(hashlib.sha256(spec.weight_tile(layer, tr, tc).tobytes()).hexdigest())\n"
        "json.dump(out, sys.stdout)\n")
    child = subprocess.run([sys.executable, "-c", code], input=json.dumps(requests),
                           capture_output=True, text=True, check=True)
    got = json.loads(child.stdout)
    fulls = {}
    for (scheme, widths, options, layer, tr, tc), digest in zip(requests, got, strict=True):
        key = (scheme, tuple(widths))
        if key not in fulls:
            fulls[key] = SourceSpec.make(scheme, widths, entropy=123456789, **options).network()
        want = fulls[key].weights[layer][_tile_slices(widths, layer, tr, tc)]
        assert digest == hashlib.sha256(want.tobytes()).hexdigest()


@pytest.mark.parametrize("weights,biases", [("iid", "independent"), ("orthogonal", "zero"),
                                            ("iid", "dependent")])
def test_looks_linear_blocks_are_their_tiles(weights, biases):
    """The untiled scheme: its blocks W₀ (iid) are the same keyed tiles, its biases the same
    keyed runs; orthogonal blocks are a function of the keyed Gaussian tiles."""
    widths = [5, 140, 70, 3]
    spec = SourceSpec.make("looks-linear", widths, entropy=9, weights=weights, biases=biases)
    blocks, bias_blocks = looks_linear_blocks(spec.unit_network())
    streams = Streams.from_seed(9)
    m = [5, 70, 35, 3]
    for layer, w0 in enumerate(blocks):
        shape = (m[layer + 1], m[layer])
        if weights == "iid":
            assert np.array_equal(w0, streams.matrix("uniform", shape, layer))
        else:
            g = streams.matrix("normal", shape, layer)
            u, _, vt = np.linalg.svd(g, full_matrices=False)
            assert np.allclose(w0, np.sqrt(shape[1] / 3.0) * (u @ vt), rtol=0, atol=1e-12)
    if biases == "independent":
        assert np.array_equal(bias_blocks[1], streams.vector("uniform", m[2], 1))
    assert spec.sha256() == network_sha256(spec.network())


def test_keys_depend_on_the_seed_only():
    a = SourceSpec.make("uniform", [4, 8, 2], entropy=1)
    b = SourceSpec.make("uniform", [4, 8, 2], entropy=2)
    c = SourceSpec.make("uniform", [4, 8, 2], entropy=1, spawn_key=(3,))
    digests = {a.sha256(), b.sha256(), c.sha256()}
    assert len(digests) == 3
    assert a.sha256() == SourceSpec.make("uniform", [4, 8, 2], entropy=1).sha256()


# ------------------------------------------------------------------------ constructions
def _construct(name, method, keep_source=False, **options):
    from lotteryproofs.construct import construct

    target, metadata = io.read_target(name)
    domain = io.target_box(metadata, target.widths[0])
    ticket = construct(target, method, eps_param=0.01, delta=0.1, rng=0, domain=domain,
                       keep_source=keep_source, **options)
    return target, domain, ticket


@pytest.mark.parametrize("method,options", [("2l", {"rho": 16}), ("zero-bias", {"rho": 16}),
                                            ("l+1", {"rho": 6, "rho_in": 16}),
                                            ("ll", {"rho": 16})])
def test_lazy_construction_equals_the_full_draw(method, options):
    """The same masks and log as the construction on the fully drawn source (a
    BuildInput built by hand from spec.draw()), and the kept values are the source's."""
    from lotteryproofs.construct import common, get_construction
    from lotteryproofs.construct.base import BuildInput

    target, domain, ticket = _construct("random:4-8-8-2:3", method, **options)
    assert ticket.compact
    spec = ticket.origin.spec
    full = spec.draw()
    construction = get_construction(method)
    opts = construction.validate_options({k: v for k, v in options.items() if k == "rho_in"})
    unit = common.unit_parameters(full.network, full.layer_scales)
    built = construction.build(BuildInput(target, full, unit, domain, 0.01, options["rho"],
                                          opts, None))
    kept = ticket.kept()
    for layer, (wm, bm) in enumerate(zip(built.weight_masks, built.bias_masks, strict=True)):
        wpos, wval, bpos, bval = kept[layer]
        assert np.array_equal(np.flatnonzero(wm), wpos)
        assert np.array_equal(np.flatnonzero(bm), bpos)
        assert np.array_equal(full.network.weights[layer].ravel()[wpos], wval)
        assert np.array_equal(full.network.biases[layer][bpos], bval)
    log = common.build_log(built.solved)
    for name, column in log.columns().items():
        assert np.array_equal(column, getattr(ticket.rss_log, name)), name
    assert ticket.origin.source_sha256 == network_sha256(full.network)


def test_compact_file_round_trip_and_store_source(tmp_path):
    from lotteryproofs.certify import certify

    target, domain, ticket = _construct("random:4-8-8-2:3", "2l", rho=16)
    whole = _construct("random:4-8-8-2:3", "2l", keep_source=True, rho=16)[2]
    assert whole.origin.whole and not whole.compact and ticket.compact
    assert whole.source.widths == ticket.source_widths
    assert whole.origin.source_sha256 == ticket.origin.source_sha256 \
        == network_sha256(whole.source)
    c_whole = tmp_path / "w.npz"
    io.save_ticket(whole, c_whole)  # written compact too: it knows its seed
    compact, full = tmp_path / "c.npz", tmp_path / "f.safetensors"
    io.save_ticket(ticket, compact)
    io.save_ticket(ticket, full, store_source=True)
    a, b = io.load_ticket(compact), io.load_ticket(full)
    assert a.compact and not b.compact
    assert b.source.widths == ticket.source_widths == a.source_widths
    assert network_sha256(b.source) == a.origin.source_sha256
    for got in (a, b):
        assert got.count_nonzero() == ticket.count_nonzero()
        assert certify(got, target, domain).to_json()["errors"] == \
            certify(ticket, target, domain).to_json()["errors"]
    assert compact.stat().st_size < full.stat().st_size
    assert c_whole.read_bytes() == compact.read_bytes()


def test_compact_file_refuses_values_that_do_not_regenerate(tmp_path):
    _, _, ticket = _construct("random:4-8-8-2:3", "2l", rho=16)
    path = tmp_path / "c.npz"
    io.save_ticket(ticket, path)
    arrays, metadata = io.read_arrays(path)
    values = arrays["layers.1.weight_values"].copy()
    values[3] = np.nextafter(values[3], np.inf)
    arrays["layers.1.weight_values"] = values
    io.write_arrays(path, arrays, metadata)
    pos = int(arrays["layers.1.weight_kept"][3])
    cols = ticket.source_widths[1]
    with pytest.raises(InputError, match=rf"kept value at layers\.1\.weight\[{pos // cols}, "
                                         rf"{pos % cols}\] does not regenerate from the seed"):
        io.load_ticket(path)


@settings(max_examples=25, deadline=None)
@given(key=st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
       law=st.sampled_from(["uniform", "normal"]),
       tiles=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 1), st.integers(0, 2**20),
                                st.integers(0, 2**20)), min_size=1, max_size=6))
def test_reused_bit_generator_is_a_fresh_philox_per_tile(key, law, tiles):
    """The tile drawer reuses one Philox (state reset per tile); each tile must be the bytes a
    freshly constructed Philox(key, counter=(0, tc, tr, 2l + k)) gives — the reference here is
    numpy's own constructor, in any order of tiles (a state leaking between tiles breaks it)."""
    from lotteryproofs.laws import sample

    streams = Streams(key)
    for layer, kind, tr, tc in tiles:
        fresh = np.random.Generator(np.random.Philox(
            key=np.array(key, np.uint64), counter=np.array([0, tc, tr, 2 * layer + kind],
                                                           np.uint64)))
        expected = sample(law, fresh, (TILE, TILE))
        got = streams._draw(law, layer, kind, tr, tc, (TILE, TILE))
        assert got.tobytes() == expected.tobytes()


def test_support_ticket_network_is_the_masked_support():
    """A compact ticket's f_S (no masked copy) equals source ⊙ masks computed by
    Network.masked, bit for bit, and the forward pass of approximation equals the dense one."""
    from lotteryproofs.construct import construct
    from lotteryproofs.targets import random_target

    target = random_target([4, 6, 3], rng=np.random.default_rng(3))
    ticket = construct(target, "2l", eps_param=0.05, delta=0.1, rng=np.random.SeedSequence(1),
                       rho=8, keep_source=False)
    assert ticket.compact
    masked = ticket.source.masked(ticket.weight_masks, ticket.bias_masks)
    for a, b in zip(ticket.network.weights + ticket.network.biases,
                    masked.weights + masked.biases, strict=True):
        assert a.tobytes() == b.tobytes()
    x = np.random.default_rng(0).uniform(-1, 1, (700, 4))
    np.testing.assert_allclose(ticket.approximation(x), masked.forward(x) / ticket.scale,
                               rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(key=st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
       high=st.tuples(st.integers(0, 2**63 - 1), st.integers(0, 2**63 - 1),
                      st.integers(0, 2**63 - 1)),
       n=st.integers(1, 70), order_seed=st.integers(0, 2**32 - 1))
def test_words_at_are_numpys_philox_words(key, high, n, order_seed):
    """Word i of Philox(key, counter = (0, c1, c2, c3)) computed alone (lotteryproofs.philox)
    equals word i of numpy's own generator (its C implementation is the oracle), asked for
    in a random order."""
    from lotteryproofs import philox

    bitgen = np.random.Philox(key=np.array(key, np.uint64),
                              counter=np.array([0, *high], np.uint64))
    want = bitgen.random_raw(n)
    order = np.random.default_rng(order_seed).permutation(n)
    got = philox.words_at(key, high[0], high[1], high[2], order)
    assert np.array_equal(got, want[order])
    from lotteryproofs import philox_words  # numpy's arithmetic alone: the same words

    assert np.array_equal(philox_words.words_at(key, high[0], high[1], high[2], order),
                          want[order])
    # a tile row of 2 × n: tile tc holds, row-major, the first words of stream (0, tc, c2, c3)
    band = philox.tile_row_words(key, high[1], high[2], n, 2, n + 3)
    for tc in range(-(-(n + 3) // n)):
        width = min(n, n + 3 - tc * n)
        words = np.random.Philox(key=np.array(key, np.uint64), counter=np.array(
            [0, tc, high[1], high[2]], np.uint64)).random_raw(2 * width)
        assert np.array_equal(band[:, tc * n:tc * n + width].ravel(), words)


@settings(max_examples=25, deadline=None)
@given(scheme=st.sampled_from(TILED), widths=widths_st, entropy=st.integers(0, 2**70),
       choice=st.integers(0, 1), pick_seed=st.integers(0, 2**32 - 1))
def test_values_at_any_position_are_the_full_draw(scheme, widths, entropy, choice, pick_seed):
    """SourceSpec.values_at at random positions (repeats allowed, any order) is byte-equal to
    the fully drawn source there — computed from each value's own word for the uniform law,
    from the tiles for the normal law; the uniform word transform equals rng.uniform's."""
    options = OPTIONS[scheme][choice % len(OPTIONS[scheme])]
    spec = SourceSpec.make(scheme, widths, entropy=entropy, **options)
    full = spec.network()
    rng = np.random.default_rng(pick_seed)
    for layer in range(spec.depth):
        rows_n, cols_n = spec.shape(layer)
        rows = rng.integers(0, rows_n, 40)
        cols = rng.integers(0, cols_n, 40)
        got = SourceSpec.make(scheme, widths, entropy=entropy, **options).values_at(
            layer, rows, cols)
        assert got.tobytes() == full.weights[layer][rows, cols].tobytes()
    with pytest.raises(IndexError):
        spec.values_at(0, [spec.shape(0)[0]], [0])


def test_uniform_word_transform_is_the_sampler():
    from lotteryproofs import laws

    bitgen = np.random.Philox(key=np.array([5, 7], np.uint64))
    words = np.random.Philox(key=np.array([5, 7], np.uint64)).random_raw(10_000)
    drawn = np.random.Generator(bitgen).uniform(-1.0, 1.0, 10_000)
    assert laws.from_words("uniform", words).tobytes() == drawn.tobytes()
    assert laws.from_words("normal", words) is None


@settings(max_examples=15, deadline=None)
@given(scheme=st.sampled_from(TILED), widths=widths_st, entropy=st.integers(0, 2**70),
       choice=st.integers(0, 1))
def test_weight_bands_are_the_full_draw(scheme, widths, entropy, choice):
    """SourceSpec.weight_band (from the tiles' Philox words in one compiled pass for the
    uniform law, from numpy's generator per tile for the normal law) is byte-equal to the
    rows of the fully drawn source it covers, partial tiles included."""
    options = OPTIONS[scheme][choice % len(OPTIONS[scheme])]
    spec = SourceSpec.make(scheme, widths, entropy=entropy, **options)
    full = spec.network()
    for layer in range(spec.depth):
        for tr in range(-(-widths[layer + 1] // TILE)):
            band = spec.weight_band(layer, tr)
            want = full.weights[layer][tr * TILE:(tr + 1) * TILE]
            assert band.tobytes() == np.ascontiguousarray(want).tobytes()


def test_general_activation_ticket_is_compact_and_round_trips(tmp_path):
    """A general-L+1 tanh ticket is written compact (kept positions and values, no source
    arrays), at most a fifth of its --store-source file; read back it computes what the
    ticket computes (bit for bit on 10³ inputs, with tanh), its kept values regenerate, its
    regenerated source matches the recorded sha256, and it equals the --store-source file's
    ticket (the independent reference: the whole source and masks, no regeneration)."""
    from lotteryproofs.commands.verify import check_full_source
    from lotteryproofs.construct import construct
    from lotteryproofs.network import Network
    from lotteryproofs.targets import random_target

    drawn = random_target((3, 5, 2), np.random.default_rng(4))
    target = Network(drawn.weights, drawn.biases, activation="tanh")
    ticket = construct(target, "l+1-general", eps_param=0.1, delta=0.1, rng=5, rho=24,
                       keep_source=False)
    assert ticket.compact and [a.spec for a in ticket.network.activations] == \
        ["identity", "tanh"]
    io.save_ticket(ticket, tmp_path / "c.npz", store_log=False)
    io.save_ticket(ticket, tmp_path / "s.npz", store_source=True)
    arrays, metadata = io.read_arrays(tmp_path / "c.npz")
    assert not any(k.endswith(("_mask", ".weight", ".bias")) for k in arrays)
    assert metadata["source"]["sha256"] == SourceSpec.from_json(
        metadata["source"], "c.npz").sha256()
    assert (tmp_path / "c.npz").stat().st_size * 5 < (tmp_path / "s.npz").stat().st_size
    compact, stored = io.load_ticket(tmp_path / "c.npz"), io.load_ticket(tmp_path / "s.npz")
    x = np.random.default_rng(6).uniform(-1, 1, (1000, 3))
    want = ticket.approximation(x)
    for back in (compact, stored):
        assert [a.spec for a in back.network.activations] == ["identity", "tanh"]
        assert np.array_equal(back.approximation(x), want)
    for (a, b) in zip(compact.kept(), stored.kept(), strict=True):
        for u, v in zip(a, b, strict=True):
            assert np.array_equal(u, v)
    assert "matches" in check_full_source(compact, "c.npz")


_CHILD = (
    "import hashlib, json, sys\n"
    "import numpy as np\n"
    "from lotteryproofs.init import SourceSpec\n"
    "out = []\n"
    "for scheme, widths, options, entropy, kind, layer, a, b in json.load(sys.stdin):\n"
    "    spec = SourceSpec.make(scheme, widths, entropy=entropy, **options)\n"
    "    if kind == 'tile':\n"
    "        got = spec.weight_tile(layer, a, b)\n"
    "    elif kind == 'values':\n"
    "        got = spec.values_at(layer, np.array(a), np.array(b))\n"
    "    else:\n"
    "        got = spec.biases(layer)\n"
    "    out.append(hashlib.sha256(np.ascontiguousarray(got).tobytes()).hexdigest())\n"
    "json.dump(out, sys.stdout)\n")


@settings(max_examples=2, deadline=None)
@given(data=st.data())
def test_every_scheme_drawn_piece_by_piece_in_another_process_is_the_full_draw(data):
    """Property: for every tiled scheme (with drawn widths, seed and options), a child process
    draws weight tiles, values at arbitrary positions (the construction's positional reads)
    and bias vectors, all in a random order, each from a fresh SourceSpec; every piece is
    byte-equal to the same piece of the full draw made here."""
    requests = []
    for scheme in TILED:
        widths = data.draw(st.lists(st.integers(1, 140), min_size=2, max_size=3), "widths")
        entropy = data.draw(st.integers(0, 2**70), "entropy")
        options = data.draw(st.sampled_from(OPTIONS[scheme]), "options")
        for layer, tr, tc in _all_tiles(widths):
            requests.append((scheme, widths, options, entropy, "tile", layer, tr, tc))
        for layer in range(len(widths) - 1):
            n = data.draw(st.integers(1, 30), "n")
            rows = data.draw(st.lists(st.integers(0, widths[layer + 1] - 1), min_size=n,
                                      max_size=n), "rows")
            cols = data.draw(st.lists(st.integers(0, widths[layer] - 1), min_size=n,
                                      max_size=n), "cols")
            requests.append((scheme, widths, options, entropy, "values", layer, rows, cols))
            requests.append((scheme, widths, options, entropy, "bias", layer, 0, 0))
    order = data.draw(st.permutations(range(len(requests))), "order")
    requests = [requests[k] for k in order]
    child = subprocess.run([sys.executable, "-c", _CHILD], input=json.dumps(requests),
                           capture_output=True, text=True, check=True)
    fulls = {}
    for (scheme, widths, options, entropy, kind, layer, a, b), digest in zip(
            requests, json.loads(child.stdout), strict=True):
        key = (scheme, tuple(widths), entropy, json.dumps(options))
        if key not in fulls:
            fulls[key] = SourceSpec.make(scheme, widths, entropy=entropy, **options).network()
        full = fulls[key]
        if kind == "tile":
            want = full.weights[layer][_tile_slices(widths, layer, a, b)]
        elif kind == "values":
            want = full.weights[layer][np.array(a), np.array(b)]
        else:
            want = full.biases[layer]
        assert digest == hashlib.sha256(np.ascontiguousarray(want).tobytes()).hexdigest(), \
            (scheme, kind, layer)
