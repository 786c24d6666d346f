"""Demo users for every role in the demo district (演示账号; one shared demo password)."""

from __future__ import annotations

from patrol.district import district_context
from patrol.roles import Principal
from patrol.users import UserService
from store.protocol import Store

DEMO_PASSWORD = "gridpatrol-demo"  # documented in the README; demo stores only


def create_demo_users(store: Store) -> list[str]:
    """Create the demo users if missing; return their names.

    admin, command (command center), planner; captain-<township code> for every township;
    inspector-<team id> (certified officers, 执法队员) for the first two teams of every township
    and grid-<team id> (网格员) for the first; liaison-<department> for the
    departments of the catalog that consultations invite.
    """
    svc = UserService(store)
    if not svc.is_demo_store():
        msg = "demo users go only into a store created as a demo (gridpatrol demo on a new store)"
        raise ValueError(msg)
    context = district_context(store)
    existing = {u.username for u in svc.users(Principal("系统导入", "admin"))}
    specs: list[tuple[str, str, str, dict[str, object]]] = [
        ("admin", "系统管理员", "admin", {}),
        ("command", "指挥中心值班员", "command_center", {}),
        ("planner", "规划研判员", "planner", {}),
    ]
    teams_of: dict[str, list[int]] = {}
    for team in sorted(context.teams):
        teams_of.setdefault(context.team_township[team], []).append(team)
    for tw in context.townships.values():
        specs.append((f"captain-{tw.code}", f"{tw.name}中队长", "captain", {"township_code": tw.code}))
        # two certified officers (a formal case needs two) on the first two teams, a grid worker on the first
        for k, team in enumerate(teams_of.get(tw.code, [])[:2]):
            specs.append(
                (f"inspector-{team}", f"{tw.name}执法队员{'甲乙'[k]}", "inspector", {"team_id": team})
            )
        if tw.code in teams_of:
            team = teams_of[tw.code][0]
            specs.append((f"grid-{team}", f"{tw.name}网格员", "grid_member", {"team_id": team}))
    for dept, name in (
        ("scjg", "市场监管"),
        ("sthb", "生态环保"),
        ("yjgl", "应急管理"),
        ("whsc", "文化市场"),
        ("ny", "农业"),
        ("ga", "公安"),  # a partner: copied (抄告) on noise, zombie vehicles, muck spills, fire exits
    ):
        specs.append((f"liaison-{dept}", f"{name}联络员", "liaison", {"department": dept}))
    made = []
    for username, display, role, scope in specs:
        if username not in existing:
            svc.create(None, username, DEMO_PASSWORD, role, display_name=display, demo_account=True, **scope)  # type: ignore[arg-type]
        made.append(username)
    return made
