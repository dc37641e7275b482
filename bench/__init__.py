"""Benchmarks: each compares facequeue with a baseline measured in the same run."""
