"""``python -m democratising ...``: the same command line as the ``democratising`` script, for
environments where the console script is not on ``PATH`` (``mpirun -n 2 python -m democratising
train``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
