"""The worker-monitor daemon."""
