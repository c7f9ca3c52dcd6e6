"""``python -m tablever``: the same command line as the ``tablever`` script."""

from tablever.cli import main

if __name__ == "__main__":
    main()
