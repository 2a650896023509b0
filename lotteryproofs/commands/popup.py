"""``lotteryproofs popup``: edge-popup on an embedded dataset; writes the found ticket."""

from __future__ import annotations

import argparse

from lotteryproofs import _validate
from lotteryproofs.commands import _types

HELP = ("prune a random network without training its weights (edge-popup, THEORY.md §7); "
        "report train/test accuracy and write the ticket")


#: result paths, checked before any work (cli.check_declared_paths)
OUTPUTS = {"out": _validate.TICKET_FILE, "json": _validate.JSON_FILE}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True,
                        help="digits, breast-cancer or wine (scikit-learn, offline)")
    parser.add_argument("--arch", default="dense", metavar="ARCH",
                        help="'dense' (a ReLU MLP) or 'conv' (digits only: 1x8x8 -> conv 3x3 "
                             "-> ReLU -> conv 3x3 stride 2 -> ... -> dense, scores on kernel "
                             "entries; --init uniform or uniform-zero-bias) (default: "
                             "%(default)s)")
    parser.add_argument("--hidden", default=None,
                        help="hidden widths, comma-separated, or with --arch conv the conv "
                             "channels (default: 256,256; conv: 16,16)")
    parser.add_argument("--density", type=_types.positive_float, required=True,
                        help="density d: the kept fraction of every weight and bias tensor, "
                             "in (0, 1]; a tensor of n entries keeps n - floor((1 - d)·n) "
                             "(Ramanujan et al.'s GetSubnet)")
    from lotteryproofs.experiments import SOURCES

    parser.add_argument("--init", default="uniform", metavar="NAME",
                        help=f"source initialisation, one of {', '.join(sorted(SOURCES))} "
                             "(default: %(default)s)")
    parser.add_argument("--beta", type=_types.non_negative_float, default=None, metavar="B",
                        help="bias scale β >= 0 of a nonzero-bias source (biases ~ β·D_b; 0: "
                             "every bias 0); the same as --init-option bias_factor=B "
                             "(default: the source's, 1)")
    parser.add_argument("--init-option", action="append", default=[], metavar="KEY=VALUE",
                        help="extra init.py option, e.g. bias_factor=0.05 (repeatable; "
                             "default: none)")
    parser.add_argument("--seed", type=_types.seed, default=0,
                        help="root seed, an integer >= 0 (default: %(default)s)")
    parser.add_argument("--split-seed", type=_types.seed, default=0,
                        help="seed of the train/test split (default: %(default)s)")
    parser.add_argument("--epochs", type=_types.positive_int, default=30,
                        help="training epochs of the scores (default: %(default)s)")
    parser.add_argument("--batch-size", type=_types.positive_int, default=64,
                        help="minibatch size (default: %(default)s)")
    parser.add_argument("--optimizer", default="adam", help="adam or sgd (default: %(default)s)")
    parser.add_argument("--lr", type=_types.positive_float, default=0.01,
                        help="peak learning rate, cosine decay (default: %(default)s)")
    parser.add_argument("--anneal", action="store_true",
                        help="sparsity annealing: density 0.6 → target over several levels "
                             "(default: off)")
    parser.add_argument("--anneal-levels", type=_types.positive_int, default=4,
                        help="density levels of the annealing (default: %(default)s)")
    parser.add_argument("--scaled", action="store_true",
                        help="scaled edge-popup: fit an output scale λ (distributed λ^{l/D}; "
                             "default: off)")
    parser.add_argument("--bias-ranking", default="separate",
                        help="rank bias scores 'separate'ly or 'joint'ly with the layer's "
                             "weights (default: %(default)s)")
    parser.add_argument("--out", metavar="TICKET.npz",
                        help="write the ticket here (default: not written)")
    parser.add_argument("--json", metavar="OUT.json",
                        help="write the results here (default: not written)")


def _parse_option(text: str):
    from lotteryproofs._validate import InputError

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise InputError(f"--init-option must look like KEY=VALUE, got {text!r}")
    try:
        return key, float(value) if key == "bias_factor" else value
    except ValueError:
        raise InputError(f"--init-option {key} needs a number, got {value!r}") from None


def test_indices(dataset):
    """Rows of the raw scikit-learn dataset that ``dataset`` holds out (datasets.py's split)."""
    import numpy as np

    from lotteryproofs.datasets import DEFAULT_TEST_FRACTION, load_raw, stratified_split

    _, y = load_raw(dataset.name)
    return stratified_split(y, DEFAULT_TEST_FRACTION, np.random.default_rng(dataset.split_seed))[1]


def run(args) -> int:
    import numpy as np

    from lotteryproofs import __version__, outputs
    from lotteryproofs.datasets import load_dataset
    from lotteryproofs.experiments import (
        beta_options,
        check_hidden,
        check_source,
        run_on_dataset,
        source_beta,
    )
    from lotteryproofs.io import save_ticket, write_json_atomic
    from lotteryproofs.popup import PopupConfig, check_density

    check_density(args.density)
    if args.arch not in ("dense", "conv"):
        raise _validate.InputError(f"--arch must be 'dense' or 'conv', got {args.arch!r}")
    hidden = check_hidden(args.hidden or ("16,16" if args.arch == "conv" else "256,256"))
    source_name = check_source(args.init)
    options = dict(_parse_option(o) for o in args.init_option)
    if args.beta is not None and "bias_factor" in options:
        raise _validate.InputError("give β once: --beta or --init-option bias_factor, not both")
    options.update(beta_options(source_name, args.beta))
    if args.arch == "conv":
        _check_conv(args.dataset, source_name, options)
        if args.out:  # a conv ticket file records a construction's layout (io.save_conv_ticket)
            raise _validate.InputError("--arch conv writes no ticket file (--out); use --json")
    config = PopupConfig(
        density=args.density, epochs=args.epochs, batch_size=args.batch_size,
        optimizer=args.optimizer, learning_rate=args.lr, bias_ranking=args.bias_ranking,
        anneal=args.anneal, anneal_levels=args.anneal_levels, scaled=args.scaled,
    )
    dataset = load_dataset(args.dataset, split_seed=args.split_seed)
    seed_seq = np.random.SeedSequence(args.seed)
    source_seq, train_seq = seed_seq.spawn(2)
    if args.arch == "conv":
        run_ = _conv_run(dataset, hidden, source_name, config, source_seq, train_seq, options)
    else:
        run_ = run_on_dataset(dataset, hidden, source_name, config, source_rng=source_seq,
                              train_rng=train_seq, source_options=options)
    result = run_.result
    summary = {
        "dataset": dataset.name, "split_seed": dataset.split_seed, "seed": args.seed,
        "arch": args.arch, "init": source_name, "init_options": options,
        "beta": source_beta(source_name, options),
        "widths": list(run_.source.widths), "density": config.density,
        "config": config.to_json(),
        "train_accuracy": run_.train_accuracy, "test_accuracy": run_.test_accuracy,
        "output_scale_lambda": result.output_scale,
        "kept_parameters": int(sum(m.sum() for m in result.weight_masks + result.bias_masks)),
        "source_parameters": run_.source.n_params,
        "epoch_losses": list(result.epoch_losses),
        "time_s": run_.seconds, "version": __version__,
    }
    finals = [p for p in (args.out, args.json) if p]
    with outputs.staged(*finals) as staging:  # the ticket and its results, or neither
        paths = dict(zip(finals, staging, strict=True))
        if args.out:
            save_ticket(_ticket(run_, result, dataset, summary, seed_seq), paths[args.out])
        if args.json:
            write_json_atomic(paths[args.json], summary)
    print(f"{dataset.name}: {source_name} {list(run_.source.widths)} at density "
          f"{config.density}: train accuracy {run_.train_accuracy:.4f}, test accuracy "
          f"{run_.test_accuracy:.4f} (λ = {result.output_scale:.4g}, {run_.seconds:.1f} s)")
    if args.out:
        print(f"ticket written to {args.out}")
    if args.json:
        print(f"results written to {args.json}")
    return 0


#: the conv sources: He uniform with zero or product-rule biases (popup_conv.draw_conv_source)
CONV_INITS = ("uniform", "uniform-zero-bias")


def _check_conv(dataset_name: str, source_name: str, options) -> None:
    from lotteryproofs.datasets import check_name

    if check_name(dataset_name) != "digits":
        raise _validate.InputError(
            f"--arch conv needs an image dataset (digits, 1x8x8), got {dataset_name!r}")
    if source_name not in CONV_INITS:
        raise _validate.InputError(
            f"--arch conv draws He uniform sources: --init {' or '.join(CONV_INITS)}, got "
            f"{source_name!r}")
    if set(options) - {"bias_factor"}:
        raise _validate.InputError(
            f"--arch conv takes only the init option bias_factor, got {sorted(options)}")


def _conv_run(dataset, channels, source_name, config, source_seq, train_seq, options):
    import time

    from lotteryproofs.experiments import PopupRun, source_beta
    from lotteryproofs.popup import accuracy
    from lotteryproofs.popup_conv import draw_conv_source, train_conv_popup

    start = time.perf_counter()
    source = draw_conv_source((1, 8, 8), channels, dataset.n_classes,
                              beta=source_beta(source_name, options), seed=source_seq)
    result = train_conv_popup(source, dataset.x_train, dataset.y_train, config, rng=train_seq)
    ticket = result.subnetwork(source)
    return PopupRun(dataset.name, source_name, source, result,
                    accuracy(ticket, dataset.x_train, dataset.y_train),
                    accuracy(ticket, dataset.x_test, dataset.y_test),
                    time.perf_counter() - start)


def _ticket(run_, result, dataset, summary, seed_seq):
    from lotteryproofs.popup import popup_ticket

    metadata = {key: summary[key] for key in (
        "dataset", "split_seed", "init", "init_options", "train_accuracy",
        "test_accuracy", "version")}
    metadata.update(
        seed_entropy=str(seed_seq.entropy), n_classes=dataset.n_classes,
        n_train=int(dataset.x_train.shape[0]), n_test=int(dataset.x_test.shape[0]),
        output="logits; argmax",
        # rows of the scikit-learn dataset held out for testing: evaluable without us
        test_indices=[int(i) for i in test_indices(dataset)],
    )
    return popup_ticket(run_.source, result, mean=dataset.mean, scale=dataset.scale,
                        metadata=metadata)
