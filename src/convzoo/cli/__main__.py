import sys

from convzoo.cli import main

sys.exit(main())
