"""Sign-in, roles enforced in the services (every role × every action), privacy masking, audit."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from patrol.audit import AuditService
from patrol.exporter import export_incidents
from patrol.incident import Action, IllegalTransitionError, MissingFieldError
from patrol.incidents import IncidentService, NewIncident
from patrol.patrols import PatrolService
from patrol.permissions import AccessDeniedError, mask_name, mask_phone
from patrol.refusals import Refusal
from patrol.roles import ROLES, TEAM_ROLES, Principal
from patrol.users import AuthError, UserService, hash_password, verify_password
from store import open_store
from store.rows import IncidentQuery
from tests.conftest import raw_sql

IMPORTER = Principal("导入员", "admin")

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
P = (30.7552, 120.7601)
CC = Principal("cc", "command_center")

# What each role may do, written out here independently of patrol/permissions.py.
ALL = set(Action)
EXPECTED = {
    "command_center": ALL - {Action.OPINION},  # a department speaks for itself in a consultation
    # never verifies its own results, decides its own requests, answers its own handovers, rules on its
    # disputes or supervises itself
    "captain": ALL - {Action.APPROVE, Action.REFUSE, Action.CALLBACK, Action.ACCEPT, Action.RETURN, Action.RULE,
                      Action.SUPERVISE, Action.OPINION, Action.VERIFY},
    "inspector": {Action.CREATE, Action.SUBMIT, Action.RESUME, Action.CONSULT},
    "grid_member": {Action.CREATE},  # 网格员: reports and evidence, no enforcement action
    "liaison": {Action.ACCEPT, Action.RETURN, Action.OPINION},  # a handover to it, its say in a consultation
    "planner": set(),
    "admin": {Action.CREATE},
}  # fmt: skip


@pytest.fixture
def sqlite_store(district_sqlite_url):
    store = open_store(district_sqlite_url)
    yield store
    store.close()


@pytest.fixture
def svc(sqlite_store):
    return IncidentService(sqlite_store, clock=lambda: NOW)


def _incident(svc, **kw):
    cmd = NewIncident("PARK_COMPOUND", *P, "hotline_12345", "楼下乱停车", reported_at=NOW, **kw)
    return svc.report(CC, cmd).incident


def _consult(svc, inc, departments):
    svc.act(CC, inc.id, "assess", expected_version=1)
    svc.act(CC, inc.id, "dispatch", expected_version=2, team_id=inc.team_id, outcome="simple")
    svc.act(CC, inc.id, "consult", expected_version=3, departments=departments)


def _in_scope(role: str, inc) -> Principal:
    return Principal(
        role, role, township_code=inc.township_code if role == "captain" else None,  # type: ignore[arg-type]
        team_id=inc.team_id if role in TEAM_ROLES else None, department="scjg" if role == "liaison" else None,
    )  # fmt: skip


def _out_of_scope(role: str, inc, svc) -> Principal | None:
    if role == "captain":
        other = next(c for c in svc.areas.townships if c != inc.township_code)
        return Principal("x", "captain", township_code=other)
    if role in TEAM_ROLES:
        return Principal("x", role, team_id=inc.team_id + 1)  # type: ignore[arg-type]
    if role == "liaison":
        return Principal("x", "liaison", department="ny")
    return None


def test_every_role_may_take_exactly_its_actions_and_a_refusal_changes_nothing(svc, sqlite_store):
    inc = _incident(svc, reporter_name="张三", reporter_phone="13812345678")
    # invite scjg to a consultation, so that the liaison of scjg may read it, and make it scjg's
    # matter, so that its liaison's refusals below are the state's, not the department's
    _consult(svc, inc, ["scjg"])
    raw_sql(sqlite_store, f"UPDATE incidents SET department = 'scjg' WHERE id = '{inc.id}'")
    before = svc.get(CC, inc.id)
    events = len(svc.timeline(CC, inc.id))
    for role in ROLES:
        who = _in_scope(role, inc)
        for action in Action:
            if action == Action.CREATE:
                continue
            try:
                svc.act(who, inc.id, action, expected_version=before.version)
            except AccessDeniedError:
                assert action not in EXPECTED[role], f"{role} refused {action}"
            except (IllegalTransitionError, MissingFieldError, ValueError):
                assert action in EXPECTED[role], f"{role} got past the permission check for {action}"
            else:
                raise AssertionError(f"{action} with no fields should not succeed")
        outsider = _out_of_scope(role, inc, svc)
        if outsider is not None:
            with pytest.raises(AccessDeniedError):
                svc.get(outsider, inc.id)
            for action in Action:
                if action != Action.CREATE:
                    with pytest.raises(AccessDeniedError):
                        svc.act(outsider, inc.id, action, expected_version=before.version)
            assert inc.id not in {i.id for i in svc.list_incidents(outsider, IncidentQuery())}
    after = svc.get(CC, inc.id)
    assert (after.version, after.state) == (before.version, before.state)
    assert len(svc.timeline(CC, inc.id)) == events


@pytest.mark.parametrize("role", ROLES)
def test_reporting_is_refused_to_roles_that_may_not_create(svc, role):
    inc = _incident(svc)
    who = _in_scope(role, inc)
    cmd = NewIncident("PARK_COMPOUND", *P, "patrol", "d", reported_at=NOW)
    if Action.CREATE in EXPECTED[role]:
        assert svc.report(who, cmd).incident.id
    else:
        with pytest.raises(AccessDeniedError):
            svc.report(who, cmd)


def test_a_liaison_lists_only_consultations_inviting_their_department(svc):
    invited, other, plain = _incident(svc), _incident(svc), _incident(svc)
    for inc, dept in ((invited, ["scjg", "sthb"]), (other, ["ny"])):
        _consult(svc, inc, dept)
    liaison = Principal("l", "liaison", department="scjg")
    assert [i.id for i in svc.list_incidents(liaison, IncidentQuery())] == [invited.id]
    assert svc.count_incidents(liaison, IncidentQuery()) == 1
    for inc in (other, plain):
        with pytest.raises(AccessDeniedError):
            svc.get(liaison, inc.id)


def test_reporters_are_masked_for_roles_that_do_not_call_them_back(svc, sqlite_store):
    inc = _incident(svc, reporter_name="欧阳娜娜", reporter_phone="138-1234-5678")
    _consult(svc, inc, ["scjg"])
    for role in ROLES:
        got = svc.get(_in_scope(role, inc), inc.id)
        listed = [i for i in svc.list_incidents(_in_scope(role, inc), IncidentQuery()) if i.id == inc.id]
        sees = role in ("command_center", "captain", "inspector", "grid_member")
        want = ("欧阳娜娜", "138-1234-5678") if sees else ("欧***", "138****5678")
        assert (got.reporter_name, got.reporter_phone) == want, role
        assert [(i.reporter_name, i.reporter_phone) for i in listed] == [want], role
    # masking a read never changes what is stored
    assert sqlite_store.get_incident(inc.id).reporter_phone == "138-1234-5678"


def test_masks_keep_the_first_character_and_the_phone_ends():
    assert (mask_name("张三"), mask_name("欧阳娜娜"), mask_name(""), mask_name(" 李 ")) == (
        "张*",
        "欧***",
        "",
        "李",
    )
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("0573-8888-1234") == "057*****1234"
    assert (mask_phone("110"), mask_phone(""), mask_phone("无")) == ("*10", "", "")


def test_exports_mask_reporters_unless_personal_data_is_asked_for(svc, tmp_path):
    _incident(svc, reporter_name="张三", reporter_phone="13812345678")
    export_incidents(svc, IMPORTER, tmp_path / "masked.csv", "csv")
    masked = pd.read_csv(tmp_path / "masked.csv", dtype=str)
    assert list(masked["reporter_name"]) == ["张*"] and list(masked["reporter_phone"]) == ["138****5678"]
    export_incidents(svc, IMPORTER, tmp_path / "full.csv", "csv", personal_data=True)
    full = pd.read_csv(tmp_path / "full.csv", dtype=str)
    assert list(full["reporter_phone"]) == ["13812345678"]
    export_incidents(svc, IMPORTER, tmp_path / "m.geojson", "geojson")
    assert "13812345678" not in (tmp_path / "m.geojson").read_text(encoding="utf-8")


def test_passwords_are_stored_as_salted_scrypt_hashes():
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a != b and a.startswith("scrypt$") and "correct" not in a
    assert verify_password("correct horse", a) and not verify_password("correct hors", a)
    assert not verify_password("x", "not-a-hash") and not verify_password("x", "md5$1$1$1$AA==$AA==")


def test_users_sign_in_and_changes_are_audited_without_the_password(district_sqlite_url):
    store = open_store(district_sqlite_url)
    users = UserService(store, clock=lambda: NOW)
    users.create(None, "root", "first-admin-pw", "admin")
    admin = users.authenticate("root", "first-admin-pw")
    assert admin.role == "admin"
    township = store.townships()[0].code
    users.create(admin, "cap", "township-pw-1", "captain", township_code=township)
    assert users.authenticate("cap", "township-pw-1").township_code == township
    with pytest.raises(AuthError, match="wrong user name or password"):
        users.authenticate("cap", "nope-nope")
    with pytest.raises(AuthError, match="wrong user name or password"):
        users.authenticate("ghost", "nope-nope")
    users.update(admin, "cap", active=False)
    with pytest.raises(AuthError):
        users.authenticate("cap", "township-pw-1")
    with pytest.raises(Refusal, match="taken"):
        users.create(admin, "cap", "township-pw-1", "planner")
    for bad in (
        {"username": "a b", "role": "planner"},
        {"username": "x1", "role": "captain"},  # a captain needs a township
        {"username": "x2", "role": "captain", "township_code": "999"},
        {"username": "x3", "role": "inspector", "team_id": 10**6},
        {"username": "x4", "role": "wizard"},
    ):
        with pytest.raises(ValueError):
            users.create(admin, password="long-enough-pw", **bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="10 characters"):
        users.create(admin, "short", "123456789", "planner")
    with pytest.raises(AccessDeniedError):
        users.create(Principal("c", "command_center"), "y", "long-enough-pw", "planner")
    with pytest.raises(AccessDeniedError):
        users.set_password(Principal("cap2", "planner"), "cap", "another-pw-1")
    users.set_password(admin, "cap", "another-pw-1")
    log = store.audit_log()
    actions = [a.action for a in reversed(log)]
    assert actions == [
        # cap's second failure (after being disabled) is in the same streak: no row of its own
        "create_user", "sign_in", "create_user", "sign_in", "sign_in_failed", "sign_in_failed", "update_user",
        "set_password",
    ]  # fmt: skip
    text = json.dumps([a.__dict__ for a in log], default=str)
    assert "township-pw-1" not in text and "scrypt$" not in text
    update = next(a for a in log if a.action == "update_user")
    assert json.loads(update.before)["active"] is True and json.loads(update.after)["active"] is False
    store.close()


def test_patrol_and_import_changes_land_in_the_audit_log_readable_by_admins_only(
    district_sqlite_url, tmp_path
):
    store = open_store(district_sqlite_url)
    inc = (
        IncidentService(store, clock=lambda: NOW)
        .report(CC, NewIncident("PARK_COMPOUND", *P, "patrol", "d"))
        .incident
    )
    patrols = PatrolService(store, clock=lambda: NOW)
    task = patrols.create(CC, inc.team_id, [inc.cell], NOW, NOW.replace(hour=6))
    patrols.start(CC, task.id)
    audit = AuditService(store)
    entries = audit.entries(Principal("a", "admin"), limit=50)
    got = {(e.action, e.entity) for e in entries}
    assert {("create_patrol", "patrol"), ("patrol_active", "patrol"), ("create", "incident")} <= got
    for role in ROLES:
        if role != "admin":
            with pytest.raises(AccessDeniedError):
                audit.entries(Principal("x", role, township_code="1", team_id=1, department="scjg"))  # type: ignore[arg-type]
    csv_text = audit.export_csv(Principal("a", "admin")).decode("utf-8-sig")
    assert csv_text.startswith("at,actor,role,action") and "create_patrol" in csv_text
    store.close()


def test_no_code_path_updates_or_deletes_audit_rows():
    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(
        r"(UPDATE\s+audit_log|DELETE\s+FROM\s+audit_log|TRUNCATE\s+audit_log)", re.IGNORECASE
    )
    offenders = [
        str(p.relative_to(root))
        for folder in ("patrol", "store", "app_pages", "geo", "layers", "data", "bench")
        for p in (root / folder).rglob("*.py")
        if pattern.search(p.read_text(encoding="utf-8"))
    ]
    offenders += [
        str(p) for p in [root / "streamlit_app.py"] if pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_an_oidc_identity_signs_in_only_as_an_existing_active_user(district_sqlite_url):
    store = open_store(district_sqlite_url)
    users = UserService(store, clock=lambda: NOW)
    users.create(None, "wang@nanhu.gov.cn", "unused-password", "planner")
    assert users.authenticate_external("Wang@Nanhu.gov.cn ").role == "planner"
    for email in ("li@nanhu.gov.cn", None, "", "x'; DROP TABLE users;--"):
        with pytest.raises(AuthError):
            users.authenticate_external(email)
    users.update(None, "wang@nanhu.gov.cn", active=False)
    with pytest.raises(AuthError):
        users.authenticate_external("wang@nanhu.gov.cn")
    assert [a.action for a in store.audit_log(limit=6)][:2] == ["sign_in_oidc_refused", "update_user"]
    store.close()


@pytest.mark.parametrize("role", ROLES)
def test_district_wide_analytics_are_for_the_command_center_and_planners(role):
    from patrol.permissions import check_analytics

    who = Principal("x", role, township_code="1", team_id=1, department="scjg")  # type: ignore[arg-type]
    if role in ("command_center", "planner"):
        check_analytics(who)
    else:
        with pytest.raises(AccessDeniedError):
            check_analytics(who)
