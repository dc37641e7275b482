"""structlog JSON logging for every process, stdlib loggers (Dramatiq, aiohttp) included.

Job and worker ids are bound through ``structlog.contextvars`` so every line a
worker thread logs while running a job carries them.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from shared.config import Settings


def configure_logging(settings: Settings, service: str, **static: str) -> None:
    """Route structlog and stdlib logging to one JSON (or console) stream on stderr.

    ``static`` fields (a worker's id, say) are added to every line of the process.
    """
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_fields({"service": service, **static}),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _add_fields(fields: dict[str, str]) -> Any:
    def processor(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        for key, value in fields.items():
            event.setdefault(key, value)
        return event

    return processor


def get_logger(name: str) -> Any:
    """A structlog logger named like a stdlib one."""
    return structlog.get_logger(name)
