"""``python -m convzoo``: the command line, for environments without the console script."""

from convzoo.cli import run

if __name__ == "__main__":
    run()
