"""Developer tooling, never imported by a service: ``make run``'s local stack (``python -m devstack``,
also ``facequeue up``), its demo data and the private ``redis-server`` that the stack, the test
suite and the benchmarks start."""
