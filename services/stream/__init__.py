"""The streaming gateway service."""
