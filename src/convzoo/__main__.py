"""``python -m convzoo``: the command line, for environments without the console script."""

import sys

from convzoo.cli import main

if __name__ == "__main__":
    sys.exit(main())
