"""``python -m quaero``: the ``quaero`` command (how ``worker --processes`` starts its
worker processes, with this interpreter)."""

from .cli import main

main()
