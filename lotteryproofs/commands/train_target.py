"""``lotteryproofs train-target``: train a real target network on an embedded dataset."""

from __future__ import annotations

import argparse

from lotteryproofs import _validate
from lotteryproofs.commands import _types

HELP = "train an MLP target on digits, breast-cancer or wine (needs the extra 'train')"


#: result paths, checked before any work (cli.check_declared_paths)
OUTPUTS = {"out": _validate.TARGET_FILE}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, metavar="NAME",
                        help="digits, breast-cancer or wine (scikit-learn's embedded datasets)")
    parser.add_argument("--hidden", required=True, metavar="W1,W2,...",
                        help="hidden widths, e.g. 64,32")
    parser.add_argument("--prune", type=float, default=0.0, metavar="P",
                        help="magnitude-prune this fraction of every weight matrix, then re-fit "
                             "the surviving weights (default: %(default)s, no pruning)")
    parser.add_argument("--refit-epochs", type=_types.positive_int, default=None, metavar="N",
                        help="epochs of re-fitting after pruning (default: 100)")
    parser.add_argument("--seed", type=_types.seed, required=True,
                        help="MLPClassifier random_state, an integer >= 0")
    parser.add_argument("--split-seed", type=_types.seed, default=0,
                        help="seed of the stratified train/test split (default: %(default)s)")
    parser.add_argument("--out", required=True, metavar="T.npz",
                        help="target file to write (.npz or .safetensors)")
    parser.add_argument("--activation", default="relu", metavar="NAME",
                        help="MLPClassifier's hidden activation: relu, tanh, logistic (= sigmoid) "
                             "or identity; the file declares it (default: %(default)s)")


def run(args) -> int:
    from lotteryproofs import datasets, outputs, train
    from lotteryproofs._validate import InputError
    from lotteryproofs.io import save_target

    # validate everything before the (slow) training, in the order of the command line
    datasets.check_name(args.dataset)
    hidden = train.parse_hidden(args.hidden)
    activation = train.check_activation(args.activation)
    prune = train.check_prune(args.prune)
    options = {} if args.refit_epochs is None else {"refit_epochs": args.refit_epochs}
    if args.seed >= 2**32:
        raise InputError(f"--seed must be below 2^32 (scikit-learn's random_state), "
                         f"got {args.seed}")
    trained = train.train_target(args.dataset, hidden, seed=args.seed, prune=prune,
                                 split_seed=args.split_seed, activation=activation, **options)
    with outputs.staged(args.out) as (staging,):
        save_target(trained.network, staging, trained.metadata)
    meta = trained.metadata
    print(f"{args.out}: widths {'-'.join(map(str, trained.network.widths))}, "
          f"{trained.network.count_nonzero()} nonzero parameters")
    print(f"test accuracy {100 * meta['test_accuracy']:.2f} % on {meta['n_test']} inputs "
          f"(train {100 * meta['train_accuracy']:.2f} %); {meta['test_outside_box']} test inputs "
          f"lie outside the input box of the training data")
    return 0
