"""Record what today's code builds, so that a refactoring can prove it changed nothing.

For every construction method on small targets (and, with ``--lenet``, the paper's
LeNet-300-100 with 2l), this builds a ticket with a fixed seed, writes it, and records the
sha256 of the file, the sha256 of every array in it, and the certificate's numbers. The test
``tests/test_regression.py`` rebuilds the same tickets and compares.

    python tests/regression/record.py                 # -> tests/regression/baseline.json
    python tests/regression/record.py --lenet OUT.json

Expected values come from the code as it stood before a change (an independent run of the
earlier implementation), never from the code under test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

# (target, method, options); small enough for the test suite.
CASES = [
    ("random:4-8-8-2:3", "2l", {"rho": 24}),
    ("random:4-8-8-2:3", "ll", {"rho": 24}),
    ("random:4-8-8-2:3", "l+1", {"rho": 8, "rho_in": 24}),
    ("random:4-8-8-2:3", "zero-bias", {"rho": 24}),
    ("random:3-6-2:11", "2l", {"rho": 20, "widen": True}),
    ("random:3-6-2:11", "ll", {"rho": 20, "widen": True}),
    ("wine-16-8", "2l", {"rho": 30}),
    ("wine-16-8", "ll", {"rho": 30}),
    ("wine-16-8", "l+1", {"rho": 8, "rho_in": 30}),
    ("wine-16-8", "zero-bias", {"rho": 30}),
]
LENET_CASES = [("lenet300100", "2l", {"rho": 60})]
EPS_PARAM = 0.01
DELTA = 0.1
SEED = 0


def build_case(name: str, method: str, options: dict, workdir: Path) -> dict:
    from lotteryproofs import io
    from lotteryproofs.certify import certify
    from lotteryproofs.construct import construct

    target, metadata = io.read_target(name)
    domain = io.target_box(metadata, target.widths[0])
    ticket = construct(target, method, eps_param=EPS_PARAM, delta=DELTA,
                       rng=np.random.SeedSequence(SEED), domain=domain, **options)
    path = workdir / "ticket.npz"
    io.save_ticket(ticket, path)
    file_sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: hashlib.sha256(np.ascontiguousarray(data[key]).tobytes()).hexdigest()
                  for key in sorted(data.files) if key != "metadata"}
    path.unlink()
    # The observed search as the baseline ran it: the restarted rounds added since only add
    # candidates (certify/observed.py), so with none the observed error is reproduced exactly.
    cert = certify(ticket, target, domain, observed_restarts=0).to_json()
    errors = cert["errors"]
    return {
        "target": name, "method": method, "options": options,
        "file_sha256": file_sha,
        "array_sha256": arrays,
        "nonzero": int(ticket.count_nonzero()),
        "failures": int(ticket.rss_log.failed.sum()),
        "scale": float(ticket.scale),
        "errors": {key: errors[key] for key in (
            "max_param_error", "max_weight_error", "max_bias_error", "observed_output_error",
            "certified_output_error", "a_priori_output_error")},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lenet", metavar="OUT.json", help="record the LeNet cases instead")
    args = parser.parse_args(argv)
    cases = LENET_CASES if args.lenet else CASES
    out = Path(args.lenet) if args.lenet else Path(__file__).with_name("baseline.json")
    with tempfile.TemporaryDirectory() as tmp:
        records = [build_case(*case, Path(tmp)) for case in cases]
    import lotteryproofs

    payload = {"numpy": np.__version__, "lotteryproofs": lotteryproofs.__version__,
               "eps_param": EPS_PARAM, "delta": DELTA, "seed": SEED, "cases": records}
    out.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(records)} cases to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
