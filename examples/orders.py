"""A small, ordinary Dramatiq app: payments with retries, a pipeline, a time limit.

Nothing in it knows facequeue except the broker line below: with
``RedisBroker(url=REDIS_URL)`` it is a plain Dramatiq app; with
``FacequeueBroker(url=REDIS_URL)`` its jobs show up in facequeue's dashboard,
where they can be retried, promoted, re-prioritised, paused and deleted.

Run its worker:     python -m dramatiq examples.orders --processes 1 --threads 4
Send it some work:  python -m examples.orders
(``make example`` does both against the stack ``make run`` started.)
"""

from __future__ import annotations

import os
import time

import dramatiq
import redis
from dramatiq.middleware import CurrentMessage
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend

from facequeue import FacequeueBroker

REDIS_URL = os.environ.get("FQ_REDIS_URL", "redis://127.0.0.1:6379/0")
#: The queue every actor of this app uses.
QUEUE = "orders"

#: Longest wait for a result (ms). redis-py 8 gives a client a 5 s socket timeout by default, which
#: cuts any blocking get_result(block=True) longer than that short with a TimeoutError: the results
#: client reads for longer than it ever waits (it applies to Dramatiq's own RedisBroker alike).
RESULT_WAIT_MS = 30_000

broker = FacequeueBroker(url=REDIS_URL)  # was: broker = RedisBroker(url=REDIS_URL)
results_client = redis.Redis.from_url(REDIS_URL, socket_timeout=RESULT_WAIT_MS / 1000 + 5)
broker.add_middleware(Results(backend=RedisBackend(client=results_client)))
broker.add_middleware(CurrentMessage())
dramatiq.set_broker(broker)


class PaymentDeclined(Exception):
    """The payment gateway said no: retrying cannot help."""


@dramatiq.actor(
    queue_name=QUEUE, max_retries=3, min_backoff=200, max_backoff=2_000, throws=(PaymentDeclined,)
)
def charge(order_id: str, cents: int) -> dict[str, object]:
    """Charge an order; the gateway times out on the first try of every order ending in 7."""
    if cents <= 0:
        raise PaymentDeclined(f"order {order_id}: nothing to charge")
    message = CurrentMessage.get_current_message()
    attempt = message.options.get("retries", 0) if message is not None else 0
    if order_id.endswith("7") and attempt == 0:
        raise TimeoutError(f"payment gateway timed out for order {order_id}")
    return {"order": order_id, "charged": cents, "attempt": attempt + 1}


@dramatiq.actor(queue_name=QUEUE, store_results=True)
def total(cents: list[int]) -> int:
    """First step of the invoice pipeline."""
    return sum(cents)


@dramatiq.actor(queue_name=QUEUE, store_results=True)
def invoice(cents: int, *, currency: str = "EUR") -> str:
    """Second step: receives the total as its last argument; takes a keyword argument."""
    return f"{cents / 100:.2f} {currency}"


@dramatiq.actor(queue_name=QUEUE, time_limit=1_000, max_retries=0)
def export(seconds: float) -> float:
    """A report export Dramatiq stops after one second (between two of its steps: a time
    limit interrupts Python code, not a blocking call in C)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return seconds


def main() -> None:
    """Send a mix of work and wait for the invoice, as a producer of this app would."""
    for order_id, cents in (("1001", 1250), ("1007", 990), ("1010", 0)):
        sent = charge.send(order_id, cents)
        print(f"charge {order_id}: job {sent.message_id}")
    export.send(0.1)
    export.send(3.0)  # killed by its time limit
    steps = dramatiq.pipeline(
        [total.message([1250, 990]), invoice.message_with_options(kwargs={"currency": "EUR"})]
    )
    steps.run()
    print("invoice:", steps.get_result(block=True, timeout=RESULT_WAIT_MS))


if __name__ == "__main__":
    main()
