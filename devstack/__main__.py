"""``python -m devstack`` (``make run``): the whole stack on this machine; same flags as ``facequeue up``."""

import sys

from services.cli import main

main(["up", *sys.argv[1:]])
