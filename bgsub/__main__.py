"""``python -m bgsub`` is the ``bgsub`` command."""

from bgsub.cli import main

main()
