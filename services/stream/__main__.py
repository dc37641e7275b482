"""``python -m services.stream``."""

from services.stream.main import main

main()
