"""``python -m lmscape``: the same command line as ``lmscape``."""

from lmscape.cli.main import main

if __name__ == "__main__":
    main()
