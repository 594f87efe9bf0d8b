"""``python -m speechbrain_unlearn.benchmark``: see :mod:`speechbrain_unlearn.benchmark`."""

import sys

from speechbrain_unlearn.benchmark.cli import main

if __name__ == "__main__":
    sys.exit(main())
