"""``python -m services.monitor``."""

from services.monitor.main import main

main()
