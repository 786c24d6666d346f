"""Users and sign-in: salted scrypt password hashes, roles with their scope, audited changes.

Passwords are never stored: only ``scrypt$N$r$p$salt$hash`` (hashlib.scrypt, 16-byte random
salt). A failed sign-in says the same thing whether the user exists or not, and takes as long.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

from patrol.audit import audit_row
from patrol.permissions import AccessDeniedError
from patrol.roles import ROLES, Principal
from store.protocol import Store
from store.rows import UserRow

SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**14, 8, 1, 32
MIN_PASSWORD_LENGTH = 8
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,80}$")  # '@': OIDC users are named by e-mail


class AuthError(PermissionError):
    """Sign-in refused (the message never says whether the user exists)."""


def hash_password(password: str, *, n: int = SCRYPT_N) -> str:
    """A salted scrypt hash of the password, self-describing."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_LEN
    )
    b64 = base64.b64encode
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether the password matches the stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(want),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


_DUMMY_HASH = hash_password("not a password")


def principal_of(user: UserRow) -> Principal:
    """The principal a user signs in as."""
    return Principal(
        name=user.username,
        role=user.role,  # type: ignore[arg-type]
        township_code=user.township_code,
        team_id=user.team_id,
        department=user.department,
    )


def _public(user: UserRow | None) -> dict[str, Any]:
    """A user record for the audit log: everything but the password hash."""
    if user is None:
        return {}
    out = asdict(user)
    out.pop("password_hash")
    return out


class UserService:
    """Create users, change passwords and roles, and sign in."""

    def __init__(self, store: Store, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    def _check_admin(self, who: Principal | None) -> None:
        if who is not None and who.role != "admin":
            msg = f"a {who.role} may not manage users"
            raise AccessDeniedError(msg)

    def _validate(self, user: UserRow) -> None:
        if not USERNAME_RE.match(user.username):
            msg = f"user name must be 2-80 letters, digits, '.', '_', '@' or '-', got {user.username!r}"
            raise ValueError(msg)
        if user.role not in ROLES:
            msg = f"unknown role {user.role!r}; expected one of {', '.join(ROLES)}"
            raise ValueError(msg)
        principal_of(user)  # role and scope fit together (raises ValueError)
        if user.township_code is not None and user.township_code not in {
            t.code for t in self.store.townships()
        }:
            msg = f"no township {user.township_code}"
            raise ValueError(msg)
        if user.team_id is not None and user.team_id not in {t.id for t in self.store.teams()}:
            msg = f"no team {user.team_id}"
            raise ValueError(msg)

    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            msg = f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
            raise ValueError(msg)

    def create(
        self,
        who: Principal | None,
        username: str,
        password: str,
        role: str,
        *,
        display_name: str = "",
        township_code: str | None = None,
        team_id: int | None = None,
        department: str | None = None,
    ) -> UserRow:
        """Create a user (``who`` None: the command line, which may create the first admin).

        Raises
        ------
        ValueError
            For a bad name, role, scope or a short password.
        store.protocol.DuplicateError
            If the name is taken.
        AccessDeniedError
            Unless ``who`` is an admin (or None).
        """
        self._check_admin(who)
        self._check_password(password)
        now = self.clock()
        user = UserRow(
            username, display_name or username, role, township_code, team_id, department,
            hash_password(password), True, now, now,
        )  # fmt: skip
        self._validate(user)
        self.store.insert_user(
            user, audit_row(who, now, "create_user", "user", username, None, _public(user))
        )
        return user

    def update(self, who: Principal | None, username: str, **changes: Any) -> UserRow:
        """Change a user's role, scope, display name or active flag (not the password)."""
        self._check_admin(who)
        allowed = {"display_name", "role", "township_code", "team_id", "department", "active"}
        if set(changes) - allowed:
            msg = f"cannot change {', '.join(sorted(set(changes) - allowed))}"
            raise ValueError(msg)
        before = self._get(username)
        after = replace(before, **changes, updated_at=self.clock())
        self._validate(after)
        audit = audit_row(
            who, after.updated_at, "update_user", "user", username, _public(before), _public(after)
        )
        self.store.update_user(after, audit)
        return after

    def set_password(self, who: Principal | None, username: str, password: str) -> None:
        """Set a new password (admins for anyone; a user for themself)."""
        if who is not None and who.role != "admin" and who.name != username:
            msg = "only an admin may set another user's password"
            raise AccessDeniedError(msg)
        self._check_password(password)
        before = self._get(username)
        after = replace(before, password_hash=hash_password(password), updated_at=self.clock())
        audit = audit_row(
            who, after.updated_at, "set_password", "user", username, {}, {"password": "changed"}
        )
        self.store.update_user(after, audit)

    def _get(self, username: str) -> UserRow:
        user = self.store.get_user(username)
        if user is None:
            msg = f"no user {username!r}"
            raise KeyError(msg)
        return user

    def users(self, who: Principal) -> list[UserRow]:
        """Every user (admins only)."""
        self._check_admin(who)
        return self.store.users()

    def authenticate(self, username: str, password: str) -> Principal:
        """The principal for a correct name and password of an active user; audited either way.

        Raises
        ------
        AuthError
            With the same message for an unknown user, a wrong password or a disabled account.
        """
        user = self.store.get_user(username) if USERNAME_RE.match(username or "") else None
        ok = verify_password(password, user.password_hash if user else _DUMMY_HASH)
        now = self.clock()
        if user is None or not ok or not user.active:
            self.store.append_audit(
                [audit_row(None, now, "sign_in_failed", "user", username[:40], None, None)]
            )
            msg = "wrong user name or password"
            raise AuthError(msg)
        who = principal_of(user)
        self.store.append_audit([audit_row(who, now, "sign_in", "user", username, None, None)])
        return who

    def authenticate_external(self, email: str | None) -> Principal:
        """The principal for an identity confirmed by the OIDC provider (``st.login``).

        The provider proves who the person is; whether they may use GridPatrol, and as which
        role, is still decided here: an active user whose name is that e-mail address.

        Raises
        ------
        AuthError
            If no active user has that name.
        """
        name = (email or "").strip().lower()
        user = self.store.get_user(name) if USERNAME_RE.match(name) else None
        now = self.clock()
        if user is None or not user.active:
            self.store.append_audit(
                [audit_row(None, now, "sign_in_oidc_refused", "user", name[:80], None, None)]
            )
            msg = "this identity has no active GridPatrol user"
            raise AuthError(msg)
        who = principal_of(user)
        self.store.append_audit([audit_row(who, now, "sign_in_oidc", "user", name, None, None)])
        return who

    def has_users(self) -> bool:
        """Whether any user exists (else the sign-in page says how to create the first admin)."""
        return bool(self.store.users())
