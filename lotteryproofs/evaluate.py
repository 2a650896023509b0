"""Accuracy of a real target and of its ticket on the target's test split, and their agreement.

Predictions follow one rule (``train.py``): a network with one output unit is a binary
classifier predicting class 1 iff its logit is > 0; with several outputs the prediction is the
argmax (first index on ties, numpy's rule). A ticket predicts from Λ⁻¹ f_S (Λ > 0, so the scale
changes neither rule). The ticket is the pruned random network as constructed, never trained.
"""

from __future__ import annotations

import numpy as np

from lotteryproofs import _validate, datasets
from lotteryproofs.io import target_box
from lotteryproofs.network import Network
from lotteryproofs.ticket import Ticket


def predict(outputs) -> np.ndarray:
    """Class labels from network outputs of shape (n, k): k = 1 → logit > 0, else argmax."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim != 2:
        raise _validate.InputError(f"outputs must have shape (n, k), got {outputs.shape}")
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0).astype(np.int64)
    return np.argmax(outputs, axis=1).astype(np.int64)


def accuracy(network: Network, x, y) -> float:
    """Fraction of rows of ``x`` whose predicted class equals ``y`` (exact count / n)."""
    y = np.asarray(y)
    return int(np.count_nonzero(predict(network.forward(x)) == y)) / y.shape[0]


def agreement(a, b) -> float:
    """Fraction of positions where two label vectors agree."""
    a, b = np.asarray(a), np.asarray(b)
    return int(np.count_nonzero(a == b)) / a.shape[0]


def dataset_of(metadata) -> datasets.Dataset | None:
    """The dataset a target was trained on, from its metadata (None without provenance).

    The preprocessing recorded in the metadata must be the one the split reproduces: a target
    file whose mean/scale differ (another split, another scikit-learn copy of the data) is
    refused rather than evaluated on inputs it was not fed.
    """
    name = metadata.get("dataset") if metadata else None
    if name is None:
        return None
    data = datasets.load_dataset(name, split_seed=int(metadata.get("split_seed", 0)))
    recorded = metadata.get("preprocessing")
    if recorded is not None and not (
        np.array_equal(np.asarray(recorded["mean"], float), data.mean)
        and np.array_equal(np.asarray(recorded["scale"], float), data.scale)
    ):
        raise _validate.InputError(
            f"the target's recorded preprocessing differs from the {name} split "
            f"{data.split_seed} reproduced here; cannot evaluate it on that test split"
        )
    return data


def dataset_report(target: Network, ticket: Ticket, metadata) -> dict | None:
    """Target and ticket on the target's test split; None when the target has no dataset.

    Keys: ``name``, ``split_seed``, ``n_test``, ``target_test_accuracy``,
    ``ticket_test_accuracy``, ``agreement`` (fraction of test inputs with equal predictions),
    ``max_output_difference`` (max |f_T − Λ⁻¹f_S| over all test inputs and outputs),
    ``test_outside_box`` (test inputs outside the certified input box, where the certificate
    says nothing) and ``recorded_test_accuracy`` (from training). Without scikit-learn it returns
    ``{"name", "skipped"}`` instead of failing the construction.
    """
    name = metadata.get("dataset") if metadata else None
    if name is None:
        return None
    try:
        data = dataset_of(metadata)
    except _validate.InputError as exc:
        return {"name": name, "skipped": str(exc)}
    if ticket.source.widths[0] != data.n_features or target.widths[0] != data.n_features:
        raise _validate.InputError(
            f"the {name} dataset has {data.n_features} inputs but the target has "
            f"{target.widths[0]}"
        )
    target_out = target.forward(data.x_test)
    ticket_out = ticket.approximation(data.x_test)
    target_pred, ticket_pred = predict(target_out), predict(ticket_out)
    n = data.y_test.shape[0]
    box = metadata.get("input_box")
    outside = None
    if box is not None:
        outside = datasets.count_outside(data.x_test, target_box(metadata, data.n_features))
    return {
        "name": name,
        "split_seed": data.split_seed,
        "n_test": n,
        "target_test_accuracy": int(np.count_nonzero(target_pred == data.y_test)) / n,
        "ticket_test_accuracy": int(np.count_nonzero(ticket_pred == data.y_test)) / n,
        "agreement": agreement(target_pred, ticket_pred),
        "max_output_difference": float(np.max(np.abs(target_out - ticket_out))),
        "test_outside_box": outside,
        "recorded_test_accuracy": metadata.get("test_accuracy"),
    }


def format_report(report: dict) -> str:
    """Two lines for a terminal."""
    if "skipped" in report:
        return f"dataset {report['name']}: test-set comparison skipped ({report['skipped']})"
    diff = 100 * (report["ticket_test_accuracy"] - report["target_test_accuracy"])
    outside = report["test_outside_box"]
    outside_text = "" if outside is None else (
        f"; {outside} of {report['n_test']} test inputs lie outside the certified box"
    )
    return (
        f"dataset {report['name']} (test split {report['split_seed']}, {report['n_test']} inputs): "
        f"target accuracy {100 * report['target_test_accuracy']:.2f} %, ticket (untrained) "
        f"{100 * report['ticket_test_accuracy']:.2f} % ({diff:+.2f} pp)\n"
        f"  predictions agree on {100 * report['agreement']:.2f} % of test inputs; "
        f"max |f_T - f_ticket| on them {report['max_output_difference']:.3g}{outside_text}"
    )

