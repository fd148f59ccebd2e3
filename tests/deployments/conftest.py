"""One temporary Prefect server for the deployment tests that need one (10-20 s to start).

Not autouse: only ``test_prefect_deploy.py`` and ``test_ecs_submission.py`` ask for it.
Package-scoped, so it stops when the last test of ``tests/deployments`` is done, before
``tests/flows`` starts a harness of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="package")
def prefect_server() -> Iterator[str]:
    """The server's API URL; in-process clients already point at it."""
    with prefect_test_harness(server_startup_timeout=90):
        yield str(PREFECT_API_URL.value())


@pytest.fixture
def empty_prefect_server(prefect_server: str) -> str:
    """The shared server without the deployments and runs an earlier test left."""
    with get_client(sync_client=True) as client:
        for run in client.read_flow_runs(limit=200, offset=0):
            client.delete_flow_run(run.id)
        for deployment in client.read_deployments(limit=200, offset=0):
            client.delete_deployment(deployment.id)
    return prefect_server
