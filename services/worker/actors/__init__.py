"""Actors the worker runs; each module registers the actors of one catalog area."""
