"""Prefect's temporary server for a benchmark: a database of its own, offline, patient."""

from __future__ import annotations

import os
import tempfile


def temporary_prefect_env(prefix: str) -> dict[str, str]:
    """What to add to ``os.environ`` before Prefect is imported (nothing already set).

    A fresh home, so the developer's profile and database stay untouched. Telemetry off:
    it is offline here, and its first write once raced the migrations of a fresh SQLite
    database ("database is locked"), failing a 30-minute run. A fresh database is
    migrated before the server answers, so it gets the demo's startup allowance.
    """
    wanted = {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }
    if "PREFECT_HOME" not in os.environ:
        wanted["PREFECT_HOME"] = tempfile.mkdtemp(prefix=prefix)
    return {key: value for key, value in wanted.items() if key not in os.environ}
