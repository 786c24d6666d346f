"""Sign-in: throttled guessing, a lockout an admin lifts, a password policy, sessions that end when access does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from patrol.roles import Principal
from patrol.users import (
    LOCK_AFTER,
    AuthError,
    PasswordPolicyError,
    ThrottledError,
    UserService,
    check_password_policy,
)
from store import open_store

PASSWORD = "Nanhu-patrol-2026"
ADMIN = Principal("root", "admin")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def env(district_sqlite_url):
    store = open_store(district_sqlite_url)
    clock = Clock()
    users = UserService(store, clock=clock)
    users.create(None, "root", PASSWORD, "admin")
    users.create(None, "cap", PASSWORD, "captain", township_code=store.townships()[0].code)
    yield store, users, clock
    store.close()


def _guess(users: UserService, clock: Clock, name: str, client: str = "") -> str:
    """One wrong guess; 'wrong', 'wait' or 'locked' as the service answered."""
    clock.tick(0.2)
    try:
        users.authenticate(name, "wrong-guess-123", client)
    except ThrottledError as exc:
        return "locked" if exc.locked else "wait"
    except AuthError:
        return "wrong"
    return "in"


def test_fifty_quick_wrong_passwords_are_slowed_down_then_lock_the_account_even_for_the_right_one(env):
    store, users, clock = env
    answers = [_guess(users, clock, "cap") for _ in range(50)]
    # three free failures, then each further guess must wait; guessing on through the waits gets nowhere
    assert answers[:3] == ["wrong", "wrong", "wrong"] and answers[3] == "wait"
    assert answers.count("wrong") < LOCK_AFTER
    for _ in range(60):  # a patient attacker, waiting out every delay
        clock.tick(301)
        if _guess(users, clock, "cap") == "locked":
            break
    assert _guess(users, clock, "cap") == "locked"
    clock.tick(3600)
    with pytest.raises(ThrottledError, match="locked") as exc:
        users.authenticate("cap", PASSWORD)
    assert exc.value.locked
    assert users.locked_users(ADMIN) == ["cap"]
    actions = [a.action for a in store.audit_log(entity="user") if a.entity_id == "cap"]
    assert actions.count("sign_in_failed") == 1 and actions.count("sign_in_locked") == 1
    users.unlock(ADMIN, "cap")
    assert users.authenticate("cap", PASSWORD).role == "captain"
    assert users.locked_users(ADMIN) == []
    assert store.audit_log(limit=2)[1].action == "unlock_sign_in"


def test_an_unknown_name_is_locked_like_a_real_one_so_the_answers_reveal_nothing(env):
    _, users, clock = env
    for name in ("cap", "nobody"):
        answers = []
        for _ in range(40):
            answers.append(_guess(users, clock, name))
            clock.tick(301)
        assert answers.index("locked") == LOCK_AFTER


def test_one_client_guessing_many_names_is_slowed_down_on_its_own(env):
    _, users, clock = env
    answers = [_guess(users, clock, f"user{i}", client="10.1.2.3") for i in range(14)]
    assert answers[:10] == ["wrong"] * 10 and "wait" in answers[10:]
    assert _guess(users, clock, "user99", client="10.9.9.9") == "wrong"  # another client is not slowed


def test_a_success_ends_the_streak(env):
    _, users, clock = env
    for _ in range(3):
        _guess(users, clock, "cap")
    with pytest.raises(ThrottledError, match="try again in 2 s"):
        users.authenticate("cap", PASSWORD)
    clock.tick(2)
    assert users.authenticate("cap", PASSWORD).role == "captain"
    assert [_guess(users, clock, "cap") for _ in range(4)] == ["wrong"] * 3 + ["wait"]


@pytest.mark.parametrize(
    ("password", "key"),
    [
        ("12345678", "password.too_short"),
        (" " * 12, "password.too_short"),
        ("   short   ", "password.too_short"),
        ("aaaaaaaaaaaa", "password.repeated"),
        ("cap-captain-2026", "password.username"),
        ("1234567890", "password.common"),
        ("Password123", "password.common"),
        ("abcdefghijkl", "password.common"),
        ("9876543210", "password.common"),
    ],
)
def test_a_weak_password_is_refused_saying_what_is_wrong(password, key):
    with pytest.raises(PasswordPolicyError) as exc:
        check_password_policy(password, "captain")
    assert exc.value.key == key


def test_a_good_password_passes_the_policy():
    check_password_policy("南湖巡查-2026-冬", "captain")
    check_password_policy(PASSWORD, "captain")


def test_a_session_ends_when_its_user_is_disabled_or_their_role_changes(env):
    _, users, _ = env
    who = users.authenticate("cap", PASSWORD)
    assert users.current(who) == who
    users.update(ADMIN, "cap", role="planner", township_code=None)
    assert users.current(who) is None
    users.update(ADMIN, "cap", role="captain", township_code=who.township_code)
    assert users.current(who) == who
    users.update(ADMIN, "cap", active=False)
    assert users.current(who) is None
