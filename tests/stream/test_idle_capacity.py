"""50,000 idle SSE clients across the gateway processes of one machine (``make soak``; issue 25)."""

from __future__ import annotations

import os

import pytest

from bench import idle_clients

pytestmark = pytest.mark.soak

CLIENTS = int(os.environ.get("FQ_SOAK_IDLE_CLIENTS", "50000"))
#: The issue's budget per idle client.
MAX_KIB_PER_CLIENT = 10.0


def test_fifty_thousand_idle_clients_all_get_their_snapshot_and_stay_connected() -> None:
    # Given the gateway on enough processes of this machine for its open-file limit
    # When CLIENTS idle clients connect and are held for ten seconds
    run = idle_clients.group(CLIENTS, hold_s=10.0)
    print(idle_clients.describe(run))
    # Then every one got its snapshot (the load clients wait for it) and is still connected
    assert run["clients"] == CLIENTS
    assert run["open_after_hold"] == CLIENTS
    # within the memory budget per client, all processes together
    assert run["per_conn_kb"] <= MAX_KIB_PER_CLIENT
