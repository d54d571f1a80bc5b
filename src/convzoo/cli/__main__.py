"""``python -m convzoo.cli``: the command line, as the console script runs it."""

import sys

from convzoo.cli import main

if __name__ == "__main__":
    sys.exit(main())
