"""``python -m emulator`` runs the ``plugin-emulator`` command."""

from emulator.cli import main

main()
