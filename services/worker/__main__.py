"""``python -m services.worker``."""

from services.worker.cli import main

main()
