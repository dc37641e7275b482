"""Face detection, embedding and gallery search, run inside worker processes."""
