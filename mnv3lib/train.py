"""``python -m mnv3lib.train classification|detection|segmentation ...`` (also under ``torchrun``): the
command line of :mod:`mnv3lib.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
