"""The admin API service."""
