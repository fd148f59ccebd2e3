"""The server: moto's ``ThreadedMotoServer`` on 127.0.0.1, for the demo, ``make serve``, the
benchmarks and the integration tests.

``local_stack()`` is the only thing here that acts: it starts the server, resets moto's
process-wide backends, points the environment at it, provisions, and undoes all of it on
exit. While it runs, moto's SQS model has a cheaper clock (``fast_sqs_clock``).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from deployments.local_stack.provision import StackInfo, provision

#: The emulator accepts any credentials; these dummies keep boto3 from looking for real ones.
LOCAL_ENV = dict.fromkeys(
    ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"), "testing"
) | {"AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _forget_clients() -> None:
    """Cached clients (processor, flows) point at the previous endpoint: drop them."""
    from lambdas.processor.handler import reset_clients
    from tasks.aws import reset_aws_clients

    reset_clients()
    reset_aws_clients()


@contextmanager
def fast_sqs_clock() -> Iterator[None]:
    """Give moto's SQS model a cheap clock while in the block: the same epoch milliseconds.

    moto recomputes every queue attribute several times per call, and each message's
    ``visible``/``delayed`` check converts two naive datetimes to epoch milliseconds; at
    1,000 queued messages a SendMessage took 125 ms and a receive+delete 1.1 s. Returning
    ``time.time() * 1000`` (which freezegun patches too) for "now" gives the same values,
    so behaviour is unchanged; only explicit datetimes still take moto's own path.
    (``test_the_fast_sqs_clock_keeps_visibility_timeouts_and_delays`` holds it to that.)
    Nested blocks leave the patch to the outermost one, which restores moto's clock.
    """
    import moto.sqs.models

    sqs_models: Any = moto.sqs.models  # unix_time_millis is moto's own import, not its API
    original = sqs_models.unix_time_millis
    if getattr(original, "fast_clock", False):
        yield
        return

    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else original(dt)

    unix_time_millis.fast_clock = True  # type: ignore[attr-defined]
    sqs_models.unix_time_millis = unix_time_millis
    try:
        yield
    finally:
        sqs_models.unix_time_millis = original


@contextmanager
def _environment(endpoint: str) -> Iterator[None]:
    """The environment pointed at ``endpoint`` with dummy credentials, restored on exit."""
    saved = {key: os.environ.get(key) for key in [*LOCAL_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(LOCAL_ENV, AWS_ENDPOINT_URL=endpoint)
    try:
        _forget_clients()
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _forget_clients()


@contextmanager
def local_stack(port: int | None = None) -> Iterator[StackInfo]:
    """Run moto's server on 127.0.0.1, point the environment at it, provision, clean up."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    port = port or free_port()
    with fast_sqs_clock():
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            endpoint = f"http://127.0.0.1:{port}"
            # moto's backends are process-wide: without a reset, a second stack in the same
            # process would inherit the first one's queues, tables and messages.
            # (a fixed http URL on our own loopback server)
            reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310
            with urllib.request.urlopen(reset, timeout=10):  # noqa: S310  # nosec B310
                pass
            with _environment(endpoint):
                yield provision()
        finally:
            server.stop()
