"""``python -m tablever``: the same command line as the ``tablever`` script."""

from tablever.cli import script

if __name__ == "__main__":
    script()
