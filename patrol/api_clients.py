"""Systems that call the HTTP API: their keys, scopes, limits and where their news goes.

A key is shown once when it is made and stored only as its SHA-256 hash (a key is 256 random
bits, so a fast hash is the right one: there is nothing to guess). A client acts as a
:class:`~patrol.roles.Principal` of its role and scope, named ``api:NAME``, so the services
apply the same rules to it as to a person of that role, and its changes are on record under
that name.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from geo.crs import CRS_NAMES
from patrol.audit import audit_row
from patrol.incident import Source
from patrol.permissions import check_admin
from patrol.refusals import Refusal
from patrol.roles import ROLES, Principal
from patrol.users import AuthError
from store.protocol import DuplicateError, Store
from store.rows import ApiClientRow, ApiRequestRow

KEY_PREFIX = "gpk_"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,39}$")
DEFAULT_RATE_PER_MINUTE = 600
PRINCIPAL_PREFIX = "api:"


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiClient:
    """A signed-in client: its stored settings and the principal it acts as."""

    row: ApiClientRow
    principal: Principal

    @property
    def name(self) -> str:
        """The client's name."""
        return self.row.name


def principal_of(row: ApiClientRow) -> Principal:
    """The principal a client acts as (its role and scope; ``api:NAME`` on the record)."""
    return Principal(
        PRINCIPAL_PREFIX + row.name, row.role,  # type: ignore[arg-type]
        township_code=row.township_code, team_id=row.team_id, department=row.department,
    )  # fmt: skip


class ApiClientService:
    """Make, list, revoke and recognise API clients (admins manage them)."""

    def __init__(self, store: Store, clock: Callable[[], datetime] | None = None) -> None:
        self._store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    def create(
        self,
        who: Principal | None,
        name: str,
        role: str,
        *,
        township_code: str | None = None,
        team_id: int | None = None,
        department: str | None = None,
        source: str = Source.HOTLINE.value,
        crs: str = "wgs84",
        webhook_url: str = "",
        rate_per_minute: int = DEFAULT_RATE_PER_MINUTE,
    ) -> tuple[ApiClientRow, str]:
        """A new client and its key (shown this once; only its hash is kept).

        Raises
        ------
        Refusal
            For a bad name, role, scope, source, coordinate system, webhook or limit.
            A name already used counts as bad (revoked clients' too: names are never reused).
        """
        check_admin(who, "API keys")
        if not NAME_RE.match(name):
            msg = f"a client name is 2-40 letters, digits, '.', '_' or '-', starting with one, got {name!r}"
            raise Refusal(msg, "refuse.api_name")
        if role not in ROLES:
            msg = f"unknown role {role!r}; expected one of {', '.join(ROLES)}"
            raise Refusal(msg, "refuse.api_role")
        if source not in {s.value for s in Source}:
            msg = f"unknown source {source!r}; expected one of {', '.join(s.value for s in Source)}"
            raise Refusal(msg, "refuse.api_source")
        if crs not in CRS_NAMES:
            msg = f"unknown coordinate system {crs!r}; expected one of {', '.join(CRS_NAMES)}"
            raise Refusal(msg, "refuse.api_crs")
        check_webhook(webhook_url)
        if not 1 <= rate_per_minute <= 100_000:
            msg = f"a rate limit is 1 to 100000 requests a minute, got {rate_per_minute}"
            raise Refusal(msg, "refuse.api_rate")
        if township_code is not None and township_code not in {t.code for t in self._store.townships()}:
            msg = f"no township {township_code}"
            raise Refusal(msg, "refuse.api_scope")
        if team_id is not None and team_id not in {t.id for t in self._store.teams()}:
            msg = f"no team {team_id}"
            raise Refusal(msg, "refuse.api_scope")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        row = ApiClientRow(
            name, role, township_code, team_id, department, hash_key(key), source, crs, webhook_url,
            rate_per_minute, now, None,
        )  # fmt: skip
        principal_of(row)  # the role and its scope fit together (raises a Refusal)
        try:
            self._store.insert_api_client(
                row, audit_row(who, now, "create_api_client", "api_client", name, None, _public(row))
            )
        except DuplicateError as exc:  # names are never reused, revoked ones included
            msg = f"an API client named {name!r} exists already"
            raise Refusal(msg, "refuse.api_name_taken") from exc
        return row, key

    def clients(self, who: Principal | None) -> list[ApiClientRow]:
        """Every client, revoked ones too."""
        check_admin(who, "API keys")
        return self._store.api_clients()

    def _get(self, name: str) -> ApiClientRow:
        for c in self._store.api_clients():
            if c.name == name:
                return c
        msg = f"no API client {name!r}"
        raise KeyError(msg)

    def revoke(self, who: Principal | None, name: str) -> ApiClientRow:
        """Revoke a client's key at once; its record and history stay."""
        check_admin(who, "API keys")
        old = self._get(name)
        if old.revoked_at is not None:
            return old
        new = replace(old, revoked_at=self.clock())
        self._store.update_api_client(
            new,
            audit_row(who, self.clock(), "revoke_api_client", "api_client", name, _public(old), _public(new)),
        )
        return new

    def authenticate(self, key: str) -> ApiClient:
        """The client a key belongs to.

        Raises
        ------
        AuthError
            For an unknown or revoked key (the same words for both: nothing to probe).
        """
        row = self._store.api_client_by_hash(hash_key(key)) if key.startswith(KEY_PREFIX) else None
        if row is None or row.revoked_at is not None:
            msg = "invalid or revoked api_key"
            raise AuthError(msg)
        return ApiClient(row, principal_of(row))

    def link_request(self, client: ApiClient, incident_id: str) -> ApiRequestRow:
        """Record that ``client`` created (or claimed) an incident and give it a token to ask by.

        The link already stored wins: a client claiming its own request again gets its token.
        """
        return self._store.link_api_request(
            ApiRequestRow(incident_id, client.name, secrets.token_hex(12), self.clock())
        )

    def request_of_token(self, token: str) -> ApiRequestRow | None:
        """The client link a token stands for, or None."""
        rows = self._store.api_requests(token=token)
        return rows[0] if rows else None

    def webhook_clients(self) -> list[ApiClientRow]:
        """Active clients with a webhook to deliver to."""
        return [c for c in self._store.api_clients() if c.webhook_url and c.revoked_at is None]


def check_webhook(url: str) -> None:
    """Refuse a webhook address that is not an absolute http(s) URL (empty: none)."""
    if not url:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        msg = f"a webhook is an http:// or https:// address, got {url!r}"
        raise Refusal(msg, "refuse.api_webhook")


def _public(row: ApiClientRow) -> dict[str, object]:
    """What the audit log keeps of a client (never the key hash)."""
    return {
        "role": row.role, "township_code": row.township_code, "team_id": row.team_id,
        "department": row.department, "source": row.source, "crs": row.crs,
        "webhook_url": row.webhook_url, "rate_per_minute": row.rate_per_minute,
        "revoked_at": row.revoked_at,
    }  # fmt: skip
