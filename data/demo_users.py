"""Demo users for every role in the demo district (演示账号; one shared demo password)."""

from __future__ import annotations

from patrol.users import UserService
from store.protocol import Store

DEMO_PASSWORD = "gridpatrol-demo"  # documented in the README; demo stores only


def create_demo_users(store: Store) -> list[str]:
    """Create the demo users if missing; return their names.

    admin, command (command center), planner; captain-<township code> for every township;
    inspector-<team id> for the first team of every township; liaison-<department> for the
    departments of the catalog that consultations invite.
    """
    district = store.district()
    if district is None or not district.is_demo:
        msg = "demo users go only into a store created as a demo (gridpatrol demo on a new store)"
        raise ValueError(msg)
    svc = UserService(store)
    existing = {u.username for u in store.users()}
    specs: list[tuple[str, str, str, dict[str, object]]] = [
        ("admin", "系统管理员", "admin", {}),
        ("command", "指挥中心值班员", "command_center", {}),
        ("planner", "规划研判员", "planner", {}),
    ]
    villages = {v.code: v.township_code for v in store.villages()}
    first_team: dict[str, int] = {}
    for t in sorted(store.teams(), key=lambda t: t.id):
        first_team.setdefault(villages[t.village_code], t.id)
    for tw in store.townships():
        specs.append((f"captain-{tw.code}", f"{tw.name}中队长", "captain", {"township_code": tw.code}))
        if tw.code in first_team:
            team = first_team[tw.code]
            specs.append((f"inspector-{team}", f"{tw.name}网格员", "inspector", {"team_id": team}))
    for dept, name in (
        ("scjg", "市场监管"),
        ("sthb", "生态环保"),
        ("yjgl", "应急管理"),
        ("whsc", "文化市场"),
        ("ny", "农业"),
    ):
        specs.append((f"liaison-{dept}", f"{name}联络员", "liaison", {"department": dept}))
    made = []
    for username, display, role, scope in specs:
        if username not in existing:
            svc.create(None, username, DEMO_PASSWORD, role, display_name=display, demo_account=True, **scope)  # type: ignore[arg-type]
        made.append(username)
    return made
