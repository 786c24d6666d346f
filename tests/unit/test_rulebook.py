"""The published rulebook is the one applied: every (role, action, state) tried through the services."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cli import main
from patrol.catalog import load_catalog
from patrol.incident import Action, IllegalTransitionError, State
from patrol.incidents import IncidentService, NewIncident
from patrol.permissions import AccessDeniedError
from patrol.roles import ROLES, TEAM_ROLES, Principal
from patrol.rulebook import rulebook
from store import open_store
from tests.conftest import raw_sql

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
P = (30.7552, 120.7601)
CC = Principal("cc", "command_center")
BOOK = rulebook(load_catalog())


def _who(role: str, inc) -> Principal:  # type: ignore[no-untyped-def]
    return Principal(
        f"{role}-x", role, township_code=inc.township_code if role == "captain" else None,  # type: ignore[arg-type]
        team_id=inc.team_id if role in TEAM_ROLES else None, department="scjg" if role == "liaison" else None,
    )  # fmt: skip


@pytest.mark.parametrize("state", [s.value for s in State])
def test_every_role_action_and_state_is_allowed_exactly_as_the_rulebook_publishes(district_sqlite_url, state):
    store = open_store(district_sqlite_url)
    svc = IncidentService(store, clock=lambda: NOW)
    inc = svc.report(
        CC, NewIncident("PARK_COMPOUND", *P, "hotline_12345", "楼下乱停车", reported_at=NOW)
    ).incident

    # the liaison reads only cases its department is consulted on
    def put_back() -> int:  # the incident in ``state`` again, whatever the last action did
        sql = f"UPDATE incidents SET state = '{state}', consult_departments = '[\"scjg\"]', department = 'scjg' WHERE id = '{inc.id}'"
        raw_sql(store, sql)
        return svc.get(CC, inc.id).version

    version = put_back()
    published = {(t["from_state"], t["action"]): set(t["roles"]) for t in BOOK["transitions"]}
    for role in ROLES:
        who = _who(role, inc)
        for action in Action:
            if action == Action.CREATE:
                continue
            may = role in published.get((state, action.value), set())
            try:
                svc.act(who, inc.id, action, expected_version=version)
            except AccessDeniedError:
                assert not may and not any(
                    role in roles for (_, a), roles in published.items() if a == action.value
                ), (role, action, state)
            except IllegalTransitionError:
                assert (state, action.value) not in published, (role, action, state)
            except ValueError:  # got past role and state: refused for its missing fields or a rule of duty
                assert may, (role, action, state)
            else:  # an action that needs no fields (assess, approve of a request, resume) went through
                assert may, (role, action, state)
                version = put_back()
    store.close()


def test_the_workflow_command_prints_the_rulebook_the_app_shows(capsys):
    assert main(["workflow", "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(BOOK, ensure_ascii=False))
    approve = next(t for t in printed["transitions"] if t["action"] == "approve")
    assert approve["roles"] == ["command_center"] and "captain" not in approve["roles"]
    request = next(t for t in printed["transitions"] if t["action"] == "request")
    assert request["approval"] and "captain" in request["roles"]
    assert len(printed["limits"]) == len(load_catalog().items)
    assert main(["workflow"]) == 0
    assert "handling --approve--> handling|deferred: command_center" in capsys.readouterr().out
