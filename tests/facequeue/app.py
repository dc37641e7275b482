"""A Dramatiq app written as any Dramatiq user would, on FacequeueBroker: the drop-in tests' subject.

Its actors write what they see (attempts, options, the current message's id)
to Redis lists named ``seen:<tag>``, so tests check Dramatiq's behaviour from
outside the worker. A recording middleware counts the enqueue hooks and adds an
option between attempts, as user middleware may.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import dramatiq
import redis
from dramatiq.middleware import CurrentMessage, GroupCallbacks, Middleware
from dramatiq.rate_limits.backends import RedisBackend as RateLimiterBackend
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend

from facequeue import FacequeueBroker, scheduled

REDIS_URL = os.environ["FQ_REDIS_URL"]
QUEUE = "dropin"
client = redis.Redis.from_url(REDIS_URL, decode_responses=True)


class Recorder(Middleware):
    """Counts enqueue hooks and stamps each retried message with an option of its own."""

    def before_enqueue(self, broker: Any, message: Any, delay: Any) -> None:
        client.incr(f"hook:before_enqueue:{message.actor_name}")

    def after_enqueue(self, broker: Any, message: Any, delay: Any) -> None:
        client.incr(f"hook:after_enqueue:{message.actor_name}")
        if "retries" in message.options:  # what Dramatiq's Prometheus counts as a retry
            client.incr(f"hook:retried:{message.actor_name}")

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        if exception is not None:
            message.options["stamps"] = [
                *message.options.get("stamps", []),
                len(message.options.get("stamps", [])),
            ]


broker = FacequeueBroker(url=REDIS_URL)
broker.add_middleware(Results(backend=RedisBackend(url=REDIS_URL)))
broker.add_middleware(CurrentMessage())
broker.add_middleware(GroupCallbacks(RateLimiterBackend(url=REDIS_URL)))
broker.add_middleware(Recorder())
dramatiq.set_broker(broker)


def nap(seconds: float) -> None:
    """Sleep in small steps: Dramatiq's time limit interrupts Python code, not one blocking C call."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)


def see(tag: str, **what: Any) -> None:
    message = CurrentMessage.get_current_message()
    assert message is not None
    entry = {"id": message.message_id, "retries": message.options.get("retries", 0), **what}
    entry["options"] = {k: v for k, v in message.options.items() if k in ("stamps", "max_retries")}
    client.rpush(f"seen:{tag}", json.dumps(entry))


@dramatiq.actor(queue_name=QUEUE, min_backoff=50, max_backoff=100)
def flaky(tag: str, failures: int) -> str:
    """Fails its first ``failures`` attempts (no max_retries of its own: Retries' default)."""
    see(tag)
    if client.llen(f"seen:{tag}") <= failures:
        raise RuntimeError(f"attempt failed for {tag}")
    return "finally"


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def never_retry(tag: str) -> None:
    see(tag)
    raise RuntimeError("charged the card once")


@dramatiq.actor(queue_name=QUEUE, max_retries=5, min_backoff=50, throws=(ValueError,))
def refuses(tag: str) -> None:
    see(tag)
    raise ValueError("bad input is not retried")


@dramatiq.actor(queue_name=QUEUE, retry_when=lambda retries, exc: retries < 2, min_backoff=50, max_backoff=50)
def retry_when_twice(tag: str) -> None:
    see(tag)
    raise RuntimeError("again")


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def sleeper(tag: str, seconds: float) -> float:
    see(tag)
    nap(seconds)
    return seconds


@dramatiq.actor(queue_name=QUEUE, time_limit=300, max_retries=0)
def limited(tag: str) -> None:
    see(tag)
    nap(5)


@dramatiq.actor(queue_name=QUEUE, store_results=True)
def add(x: int, y: int = 0, *, scale: int = 1) -> int:
    see("add", args=[x, y], scale=scale)
    return (x + y) * scale


@dramatiq.actor(queue_name=QUEUE)
def on_done(message_data: dict[str, Any], result: Any) -> None:
    """on_success target: Dramatiq calls it with the message (as a dict) and its result."""
    client.rpush("seen:on_success", json.dumps({"id": message_data["message_id"], "result": result}))


@dramatiq.actor(queue_name=QUEUE)
def on_broken(message_data: dict[str, Any], error: dict[str, Any]) -> None:
    """on_failure target: the message and its exception's type and text."""
    client.rpush("seen:on_failure", json.dumps({"id": message_data["message_id"], "error": error}))


@dramatiq.actor(queue_name=QUEUE)
def group_done(tag: str) -> None:
    client.rpush(f"seen:{tag}", "done")


@dramatiq.actor(queue_name=QUEUE, store_results=True)
def explode(tag: str) -> None:
    see(tag)
    raise KeyError("nope")


@dramatiq.actor(
    queue_name=QUEUE, max_retries=1, min_backoff=50, max_backoff=50, on_retry_exhausted="exhausted"
)
def gives_up(tag: str) -> None:
    see(tag)
    raise RuntimeError("still broken")


@dramatiq.actor(queue_name=QUEUE)
def exhausted(message_data: dict[str, Any], info: dict[str, Any]) -> None:
    """on_retry_exhausted target: the message and its retry counts."""
    client.rpush("seen:exhausted", json.dumps({"id": message_data["message_id"], **info}))


@dramatiq.actor(queue_name=QUEUE, max_retries=3)
def asks_for_later(tag: str) -> str:
    """Asks to be retried in exactly 300 ms the first time (dramatiq.Retry with a delay)."""
    see(tag)
    if client.llen(f"seen:{tag}") == 1:
        raise dramatiq.Retry(delay=300)
    return "later"


@dramatiq.actor(queue_name=QUEUE, max_retries=10)
def kills_its_worker(tag: str) -> None:
    """A poison job: takes its worker process down (as an OOM kill or a native crash would)."""
    see(tag)
    os.kill(os.getpid(), signal.SIGKILL)


@scheduled("dropin-new-year", "@yearly", args=["new-year"], timezone="Europe/Berlin")
@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def greet_new_year(tag: str) -> None:
    """A schedule declared in code next to its actor (issue 21); the tests run it by hand."""
    see(tag)
