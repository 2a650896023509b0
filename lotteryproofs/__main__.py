"""``python -m lotteryproofs``: the same as the ``lotteryproofs`` command."""

from lotteryproofs.cli import main

raise SystemExit(main())
