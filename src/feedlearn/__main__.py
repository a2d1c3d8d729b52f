"""``python -m feedlearn`` = the ``feedlearn`` command."""

from feedlearn.cli import run

run()
