"""Status changes sent back to the systems that reported: webhooks with retries, or polling.

Every change of state (and each callback) of an incident a client created is queued in the
store in the same transaction as the change (``store.api``), so nothing is lost when the
client's receiver is down. Delivery posts each change, oldest first, to the client's webhook
with an ``Idempotency-Key`` header (the receiver may see a change twice, never miss one); a
failure waits before the next try, longer each time, and holds back that client's later
changes so they arrive in order. A client without a webhook polls and acknowledges.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from patrol.api_clients import ApiClient, ApiClientService
from patrol.audit import audit_row
from patrol.incident import FINAL_STATES, State
from patrol.labels import Labels
from patrol.open311 import w3
from store.protocol import Store
from store.rows import ApiClientRow, IncidentQuery, IncidentRow, OutboxRow

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(seconds=5)
LAST_RETRY = timedelta(hours=1)
BATCH = 50


def retry_delay(attempts: int, first: timedelta = FIRST_RETRY, last: timedelta = LAST_RETRY) -> timedelta:
    """How long to wait after the ``attempts``-th failure: doubling from ``first``, at most ``last``."""
    grown: timedelta = first * (2 ** max(attempts - 1, 0))
    return min(grown, last)


def idempotency_key(row: OutboxRow) -> str:
    """The same key for every delivery of one change."""
    return f"{row.client}:{row.incident_id}:{row.seq}"


@dataclass
class Delivered:
    """What one round of delivery did."""

    sent: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # client → the error that held it back


Post = Callable[[str, bytes, dict[str, str]], int]


def http_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST a JSON body; the HTTP status (raises on a network error)."""
    with httpx.Client(timeout=10.0, trust_env=False) as http:
        return http.post(url, content=body, headers=headers).status_code


class OutboxService:
    """Read, acknowledge and deliver clients' status changes."""

    def __init__(
        self,
        store: Store,
        labels: Labels,
        *,
        clock: Callable[[], datetime] | None = None,
        post: Post = http_post,
        first_retry: timedelta = FIRST_RETRY,
    ) -> None:
        self._store = store
        self.labels = labels
        self.clock = clock or (lambda: datetime.now(UTC))
        self.post = post
        self.first_retry = first_retry

    def messages(self, rows: Sequence[OutboxRow]) -> list[dict[str, Any]]:
        """Changes as a client receives them (their incidents read in one query)."""
        ids = tuple(sorted({r.incident_id for r in rows}))
        found = self._store.list_incidents(IncidentQuery(ids=ids, limit=len(ids))) if ids else []
        incidents = {i.id: i for i in found}
        return [self.message(r, incidents.get(r.incident_id)) for r in rows]

    def message(self, row: OutboxRow, incident: IncidentRow | None) -> dict[str, Any]:
        """One change as a client receives it."""
        state = State(row.to_state)
        return {
            "outbox_id": row.id,
            "idempotency_key": idempotency_key(row),
            "service_request_id": row.incident_id,
            "external_id": incident.external_id if incident else None,
            "status": "closed" if state in FINAL_STATES else "open",
            "state": state.value,
            "status_notes": self.labels.state(state.value),
            "action": row.action,
            "satisfaction": incident.satisfaction if incident and row.action == "callback" else None,
            "updated_datetime": w3(row.at),
        }

    def poll(self, client: ApiClient, after_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """A client's undelivered changes, oldest first (``after_id`` pages on)."""
        rows = self._store.outbox(client.name, after_id=after_id, limit=max(1, min(limit, 500)))
        return self.messages(rows)

    def acknowledge(self, client: ApiClient, ids: Sequence[int]) -> int:
        """Mark changes the client has (audited); the number newly marked (others' ids are ignored)."""
        now = self.clock()
        after = {"outbox_ids": sorted(set(ids))[:1000]}
        audit = [
            audit_row(client.principal, now, "acknowledge_changes", "api_client", client.name, None, after)
        ]
        return self._store.outbox_delivered(client.name, list(ids), now, audit if ids else ())

    def deliver(self, clients: Sequence[ApiClientRow]) -> Delivered:
        """One round: post each client's due changes in order, until one fails."""
        out = Delivered()
        for client in clients:
            now = self.clock()
            rows = self._store.outbox(client.name, due_at=now, limit=BATCH)
            for row, message in zip(rows, self.messages(rows), strict=True):
                body = json.dumps(message, ensure_ascii=False).encode()
                headers = {
                    "Content-Type": "application/json; charset=utf-8",
                    "Idempotency-Key": idempotency_key(row),
                }
                try:
                    status = self.post(client.webhook_url, body, headers)
                    error = "" if 200 <= status < 300 else f"HTTP {status}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                if error:
                    wait = retry_delay(row.attempts + 1, self.first_retry)
                    self._store.outbox_failed(row.id, self.clock() + wait, error)
                    out.failed[client.name] = error
                    log.warning("webhook of %s failed (%s); retrying in %s", client.name, error, wait)
                    break
                self._store.outbox_delivered(client.name, [row.id], self.clock())
                out.sent += 1
        return out

    def deliver_all(self, clients: ApiClientService) -> Delivered:
        """One round over every active client with a webhook."""
        return self.deliver(clients.webhook_clients())
