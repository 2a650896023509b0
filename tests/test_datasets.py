"""Embedded scikit-learn datasets: split, standardisation, input box, errors."""

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lotteryproofs import datasets
from lotteryproofs._validate import InputError
from lotteryproofs.network import Box

pytest.importorskip("sklearn")


@pytest.fixture(scope="module", params=datasets.known_names())
def loaded(request):
    name = request.param
    return name, datasets.load_dataset(name, split_seed=3), datasets.load_raw(name)


def test_load_dataset_splits_and_standardises(loaded):
    name, data, (x_raw, y_raw) = loaded
    n = x_raw.shape[0]
    assert data.name == name and data.split_seed == 3
    assert data.x_train.shape[0] + data.x_test.shape[0] == n
    assert data.n_classes == np.unique(y_raw).shape[0]
    # every class is split round(0.25·n_c) to test, the rest to train
    for c in np.unique(y_raw):
        n_c = int(np.count_nonzero(y_raw == c))
        assert np.count_nonzero(data.y_test == c) == round(datasets.DEFAULT_TEST_FRACTION * n_c)
        assert np.count_nonzero(data.y_train == c) == n_c - round(
            datasets.DEFAULT_TEST_FRACTION * n_c)
    # the standardised training inputs have mean 0 and std 1 (0 for constant raw columns)
    raw_std = np.array([np.std(col) for col in (data.x_train * data.scale).T])
    assert np.allclose(data.x_train.mean(axis=0), 0.0, atol=1e-12)
    assert np.allclose(data.x_train.std(axis=0), np.where(raw_std > 0, 1.0, 0.0), atol=1e-12)
    assert data.x_train.dtype == np.float64 and data.x_test.dtype == np.float64


def test_split_is_a_partition_of_the_raw_rows(loaded):
    _, data, (x_raw, y_raw) = loaded
    # undo the standardisation and find every raw row (with its label) exactly once
    rows = np.concatenate([data.x_train, data.x_test]) * data.scale + data.mean
    labels = np.concatenate([data.y_train, data.y_test])
    key = lambda x, y: sorted(map(tuple, np.column_stack([np.round(x, 9), y])))  # noqa: E731
    assert key(rows, labels) == key(x_raw, y_raw)


def test_split_depends_only_on_the_seed():
    a = datasets.load_dataset("wine", split_seed=7)
    b = datasets.load_dataset("wine", split_seed=7)
    c = datasets.load_dataset("wine", split_seed=8)
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.x_test, c.x_test)


def test_train_box_contains_training_inputs(loaded):
    _, data, _ = loaded
    box = data.train_box()
    assert np.all(data.x_train >= box.lower) and np.all(data.x_train <= box.upper)
    flat = data.x_train.min(axis=0) == data.x_train.max(axis=0)
    assert np.allclose((box.upper - box.lower)[flat], 2 * datasets.DEGENERATE_HALF_WIDTH)
    # count_outside against a row-by-row loop
    expected = sum(
        1 for x in data.x_test if any(x[i] < box.lower[i] or x[i] > box.upper[i]
                                      for i in range(box.dim))
    )
    assert datasets.count_outside(data.x_test, box) == expected


def test_digits_has_64_inputs_and_constant_pixels():
    data = datasets.load_dataset("digits", split_seed=0)
    assert data.n_features == 64 and data.n_classes == 10
    # blank border pixels: constant columns keep scale 1 and standardise to exactly 0
    constant = data.x_train.min(axis=0) == data.x_train.max(axis=0)
    assert constant.any() and np.all(data.scale[constant] == 1.0)


@settings(max_examples=40)
@given(
    labels=st.lists(st.integers(0, 3), min_size=1, max_size=60),
    fraction=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**32 - 1),
)
def test_stratified_split_property(labels, fraction, seed):
    y = np.array(labels)
    train, test = datasets.stratified_split(y, fraction, np.random.default_rng(seed))
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(y.shape[0]))
    for c in np.unique(y):
        assert np.count_nonzero(y[test] == c) == round(fraction * np.count_nonzero(y == c))


@settings(max_examples=30)
@given(
    x=st.lists(st.lists(st.floats(-1e3, 1e3), min_size=3, max_size=3), min_size=2, max_size=20)
)
def test_standardise_inverts_to_the_input(x):
    x = np.array(x)
    mean, scale = datasets.fit_standardisation(x)
    assert np.all(scale > 0)
    assert np.allclose(datasets.standardise(x, mean, scale) * scale + mean, x, rtol=1e-12,
                       atol=1e-9)


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(InputError, match="unknown dataset 'mnist'; known datasets: "
                                         "breast-cancer, digits, wine"):
        datasets.load_dataset("mnist", split_seed=0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.ones((2, 3)), np.zeros(2), np.ones(2)), "inputs have 3 features"),
        ((np.ones((2, 3)), np.zeros(3), np.array([1.0, 0.0, 1.0])), "scale must be > 0"),
        ((np.array([[np.nan, 1.0]]), np.zeros(2), np.ones(2)), "non-finite"),
    ],
)
def test_standardise_rejects_bad_input(args, message):
    with pytest.raises(InputError, match=message):
        datasets.standardise(*args)


def test_bad_split_arguments():
    with pytest.raises(InputError, match="split seed"):
        datasets.load_dataset("wine", split_seed=-1)
    with pytest.raises(InputError, match="test fraction"):
        datasets.load_dataset("wine", split_seed=0, test_fraction=1.0)


def test_missing_sklearn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(InputError, match=r"pip install 'lotteryproofs\[train\]'"):
        datasets.load_dataset("wine", split_seed=0)


def test_count_outside_unit_cube():
    box = Box.cube(-1.0, 1.0, 2)
    x = np.array([[0.0, 0.0], [1.0, -1.0], [1.5, 0.0], [0.0, -2.0]])
    assert datasets.count_outside(x, box) == 2
