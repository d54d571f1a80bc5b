"""``python -m convzoo.cli``: the command line, as the console script runs it."""

from convzoo.cli import run

if __name__ == "__main__":
    run()
