"""Users and sign-in: salted scrypt password hashes, roles with their scope, audited changes.

Passwords are never stored: only ``scrypt$N$r$p$salt$hash`` (hashlib.scrypt, 16-byte random
salt). A failed sign-in says the same thing whether the user exists or not, and takes as long.

Guessing is throttled in the store (shared by every app process), per account and per client
address: after a few failures each further try waits twice as long as the one before; an
account locks after :data:`LOCK_AFTER` failures until an admin unlocks it. A streak of failures
writes three audit rows at most (its first failure, the lock, its end), not one per guess.
A new password needs :data:`MIN_PASSWORD_LENGTH` characters, may not be a common one, the user
name, or one character repeated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import os
import re
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from patrol.audit import audit_row
from patrol.permissions import AccessDeniedError, check_admin
from patrol.plausibility import check_text
from patrol.refusals import Refusal
from patrol.roles import ROLES, Principal
from store.protocol import DuplicateError, Store
from store.rows import SignInFailures, UserRow

SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**14, 8, 1, 32
MIN_PASSWORD_LENGTH = 10
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,80}$")  # '@': OIDC users are named by e-mail
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parents[1] / "data" / "common_passwords.txt"

#: Failures an account or a client may make before each further try has to wait.
FREE_FAILURES = {"user": 3, "client": 10}  # an office behind one address shares the client key
#: The wait after the first throttled failure, doubling with each further one, up to the cap.
FIRST_DELAY = timedelta(seconds=2)
MAX_DELAY = timedelta(minutes=5)
#: Failures after which an account is locked until an admin unlocks it.
LOCK_AFTER = 10


class AuthError(PermissionError):
    """Sign-in refused (the message never says whether the user exists)."""


class ThrottledError(AuthError):
    """Too many failed sign-ins: wait ``wait_s`` seconds (or, if ``locked``, ask an admin)."""

    def __init__(self, message: str, *, wait_s: int = 0, locked: bool = False) -> None:
        super().__init__(message)
        self.wait_s = wait_s
        self.locked = locked


class PasswordPolicyError(Refusal):
    """A new password that is too short, too common, or the user name."""


def _common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def check_password_policy(password: str, username: str = "") -> None:
    """Raise PasswordPolicyError naming what is wrong with a new password.

    Raises
    ------
    PasswordPolicyError
        If it has fewer than ``MIN_PASSWORD_LENGTH`` characters (spaces at either end not
        counted), is one character repeated, contains the user name, or is a common password.
    """
    core = password.strip()
    if len(core) < MIN_PASSWORD_LENGTH:
        msg = f"a password needs at least {MIN_PASSWORD_LENGTH} characters (not counting spaces at the ends)"
        raise PasswordPolicyError(msg, "password.too_short", n=MIN_PASSWORD_LENGTH)
    if len(set(core)) == 1:
        msg = "a password may not be one character repeated"
        raise PasswordPolicyError(msg, "password.repeated")
    if username and len(username) >= 3 and username.lower() in password.lower():
        msg = "a password may not contain the user name"
        raise PasswordPolicyError(msg, "password.username")
    if core.lower() in _common_passwords() or _is_run(core.lower()):
        msg = "this password is among the most common ones; choose another"
        raise PasswordPolicyError(msg, "password.common")


def _is_run(text: str) -> bool:
    """Whether the text is a run of consecutive characters (0123456789, abcdefghij, 9876543210)."""
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(text)}
    return steps in ({1}, {-1})


def _delay(failures: SignInFailures, kind: str) -> timedelta:
    """How long after its last failure a key must wait before the next try."""
    over = failures.failures - FREE_FAILURES[kind]
    if over < 0:
        return timedelta(0)
    return min(FIRST_DELAY * int(2 ** min(over, 20)), MAX_DELAY)


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
        district_code=user.district_code,
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
        self._store = store
        self.clock = clock or (lambda: datetime.now(UTC))

    def _validate(self, user: UserRow) -> None:
        check_text("display_name", user.display_name)
        if not USERNAME_RE.match(user.username):
            msg = f"user name must be 2-80 letters, digits, '.', '_', '@' or '-', got {user.username!r}"
            raise Refusal(msg, "refuse.username")
        if user.role not in ROLES:
            msg = f"unknown role {user.role!r}; expected one of {', '.join(ROLES)}"
            raise ValueError(msg)
        principal_of(user)  # role and scope fit together (raises ValueError)
        if user.township_code is not None and user.township_code not in {
            t.code for t in self._store.townships()
        }:
            msg = f"no township {user.township_code}"
            raise ValueError(msg)
        if user.team_id is not None and user.team_id not in {t.id for t in self._store.teams()}:
            msg = f"no team {user.team_id}"
            raise ValueError(msg)
        if user.district_code is not None and self._store.district(user.district_code) is None:
            msg = f"no district {user.district_code}"
            raise Refusal(msg, "refuse.no_district", code=user.district_code)

    def _in_district(self, user: UserRow) -> UserRow:
        """The user with the district of their township or team (a captain's or a team member's)."""
        found = self._store.district_of(township_code=user.township_code, team_id=user.team_id)
        return replace(user, district_code=found) if found is not None else user

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
        district_code: str | None = None,
        demo_account: bool = False,
    ) -> UserRow:
        """Create a user (``who`` None: the command line, which may create the first admin).

        ``district_code`` keeps the user to one district of a store that holds several (None:
        all of them); a captain or a team member is in the district of their township or team.

        ``demo_account`` skips the password policy for the published demo password, and is
        refused unless the store was created as a demo.

        Raises
        ------
        ValueError
            For a bad name, role, scope or a short password, or a name taken (a Refusal).
        AccessDeniedError
            Unless ``who`` is an admin (or None).
        """
        check_admin(who, "users")
        if demo_account:
            district = self._store.district()
            if district is None or not district.is_demo:
                msg = "demo accounts go only into a store created as a demo"
                raise ValueError(msg)
        else:
            check_password_policy(password, username)
        now = self.clock()
        user = UserRow(
            username, display_name or username, role, township_code, team_id, department,
            hash_password(password), True, now, now, district_code,
        )  # fmt: skip
        user = self._in_district(user)
        self._validate(user)
        try:
            self._store.insert_user(
                user, audit_row(who, now, "create_user", "user", username, None, _public(user))
            )
        except DuplicateError as exc:
            msg = f"the user name {username!r} is taken"
            raise Refusal(msg, "refuse.username_taken") from exc
        return user

    def update(self, who: Principal | None, username: str, **changes: Any) -> UserRow:
        """Change a user's role, scope, display name or active flag (not the password)."""
        check_admin(who, "users")
        allowed = {
            "display_name",
            "role",
            "township_code",
            "team_id",
            "department",
            "active",
            "district_code",
        }
        if set(changes) - allowed:
            msg = f"cannot change {', '.join(sorted(set(changes) - allowed))}"
            raise ValueError(msg)
        before = self._get(username)
        after = self._in_district(replace(before, **changes, updated_at=self.clock()))
        self._validate(after)
        audit = audit_row(
            who, after.updated_at, "update_user", "user", username, _public(before), _public(after)
        )
        self._store.update_user(after, audit)
        return after

    def set_password(self, who: Principal | None, username: str, password: str) -> None:
        """Set a new password (admins for anyone; a user for themself)."""
        if who is not None and who.role != "admin" and who.name != username:
            msg = "only an admin may set another user's password"
            raise AccessDeniedError(msg)
        check_password_policy(password, username)
        before = self._get(username)
        after = replace(before, password_hash=hash_password(password), updated_at=self.clock())
        audit = audit_row(
            who, after.updated_at, "set_password", "user", username, {}, {"password": "changed"}
        )
        self._store.update_user(after, audit)

    def _get(self, username: str) -> UserRow:
        user = self._store.get_user(username)
        if user is None:
            msg = f"no user {username!r}"
            raise KeyError(msg)
        return user

    def users(self, who: Principal, district_code: str | None = None) -> list[UserRow]:
        """Every user (admins only); with a district, its users and those of every district."""
        check_admin(who, "users")
        found = self._store.users()
        if district_code is None:
            return found
        return [u for u in found if u.district_code in (None, district_code)]

    def authenticate(self, username: str, password: str, client: str = "") -> Principal:
        """The principal for a correct name and password of an active user; audited either way.

        ``client`` is the caller's address, throttled on its own (empty: not known).

        Raises
        ------
        ThrottledError
            While the account or the client must wait, or once the account is locked (the
            password is not even checked then).
        AuthError
            With the same message for an unknown user, a wrong password or a disabled account.
        """
        name = (username or "")[:80]
        keys = {"user": f"user:{name.lower()}", **({"client": f"client:{client[:80]}"} if client else {})}
        now = self.clock()
        streaks = self._store.sign_in_failures(list(keys.values()))
        self._check_throttle(keys, streaks, now)
        user = self._store.get_user(name) if USERNAME_RE.match(name) else None
        ok = verify_password(password, user.password_hash if user else _DUMMY_HASH)
        if user is None or not ok or not user.active:
            self._fail(keys, name, now)
        assert user is not None
        who = principal_of(user)
        before = streaks.get(keys["user"])
        after = {"failed_attempts_before": before.failures} if before else None
        self._store.clear_sign_in_failures(
            [keys["user"]], [audit_row(who, now, "sign_in", "user", name, None, after)]
        )
        return who

    @staticmethod
    def _check_throttle(keys: dict[str, str], streaks: dict[str, SignInFailures], now: datetime) -> None:
        for kind, key in keys.items():
            streak = streaks.get(key)
            if streak is None:
                continue
            if streak.locked:
                msg = "this account is locked after repeated failed sign-ins; an administrator can unlock it"
                raise ThrottledError(msg, locked=True)
            wait = streak.last_at + _delay(streak, kind) - now
            if wait > timedelta(0):
                wait_s = max(1, int(wait.total_seconds() + 0.999))
                msg = f"too many failed sign-ins; try again in {wait_s} s"
                raise ThrottledError(msg, wait_s=wait_s)

    def _fail(self, keys: dict[str, str], name: str, now: datetime) -> None:
        """Count a failure, audit the first of a streak and a lock, and refuse."""
        counts = self._store.add_sign_in_failure(list(keys.values()), now)
        streak = counts[keys["user"]]
        if streak.failures == 1:
            self._store.append_audit([audit_row(None, now, "sign_in_failed", "user", name[:40], None, None)])
        if streak.failures >= LOCK_AFTER:
            self._store.lock_sign_in(
                keys["user"],
                audit_row(
                    None, now, "sign_in_locked", "user", name[:40], None, {"failures": streak.failures}
                ),
            )
        msg = "wrong user name or password"
        raise AuthError(msg)

    def locked_users(self, who: Principal) -> list[str]:
        """Names whose sign-in is locked after repeated failures (admins only)."""
        check_admin(who, "users")
        keys = [f"user:{u.username.lower()}" for u in self._store.users()]
        return sorted(
            k.removeprefix("user:") for k, s in self._store.sign_in_failures(keys).items() if s.locked
        )

    def unlock(self, who: Principal | None, username: str) -> None:
        """Lift the lock and forget the failed sign-ins of a user (admins only; audited)."""
        check_admin(who, "users")
        key = f"user:{username.lower()}"
        streak = self._store.sign_in_failures([key]).get(key)
        before = {"failures": streak.failures, "locked": streak.locked} if streak else {}
        self._store.clear_sign_in_failures(
            [key], [audit_row(who, self.clock(), "unlock_sign_in", "user", username, before, {})]
        )

    def current(self, who: Principal) -> Principal | None:
        """``who`` as the store has them now: None if disabled, removed, or their role or scope changed.

        Called on every rerun, so a disabled user's open session ends at their next click.
        """
        user = self._store.get_user(who.name)
        if user is None or not user.active:
            return None
        try:
            now = principal_of(user)
        except ValueError:
            return None
        return who if now == who else None

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
        user = self._store.get_user(name) if USERNAME_RE.match(name) else None
        now = self.clock()
        if user is None or not user.active:
            self._store.append_audit(
                [audit_row(None, now, "sign_in_oidc_refused", "user", name[:80], None, None)]
            )
            msg = "this identity has no active GridPatrol user"
            raise AuthError(msg)
        who = principal_of(user)
        self._store.append_audit([audit_row(who, now, "sign_in_oidc", "user", name, None, None)])
        return who

    def display_name(self, username: str) -> str:
        """How a user is named on screen (their user name if they have no display name)."""
        user = self._store.get_user(username)
        return user.display_name if user and user.display_name else username

    def is_demo_store(self) -> bool:
        """Whether the store was created as a demo (the sign-in page then names the demo accounts)."""
        district = self._store.district()
        return district is not None and district.is_demo

    def has_users(self) -> bool:
        """Whether any user exists (else the sign-in page says how to create the first admin)."""
        return bool(self._store.users())
