"""facequeue's public Python surface for Dramatiq apps: ``from facequeue import FacequeueBroker``.

A plain Dramatiq app adopts facequeue by changing its broker line from
``RedisBroker(url=...)`` to ``FacequeueBroker(url=...)`` (README, "Use facequeue
with your Dramatiq app").
"""

from services.worker.broker import FacequeueBroker
from shared.schedules import scheduled

__all__ = ["FacequeueBroker", "scheduled"]
