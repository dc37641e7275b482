"""``python -m services.api``."""

from services.api.main import main

main()
