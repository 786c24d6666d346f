"""Who is using the app: the principal every service call is made as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from patrol.refusals import Refusal

Role: TypeAlias = Literal[
    "command_center", "captain", "inspector", "grid_member", "liaison", "planner", "admin"
]
ROLES: tuple[Role, ...] = (
    "command_center",
    "captain",
    "inspector",
    "grid_member",
    "liaison",
    "planner",
    "admin",
)
# the roles that work in one village team: the certified enforcement officer (执法队员, who handles
# cases; a formal case needs two of them) and the grid worker (网格员, who patrols, reports and
# collects evidence, but takes no enforcement action)
TEAM_ROLES: frozenset[str] = frozenset({"inspector", "grid_member"})


@dataclass(frozen=True)
class Principal:
    """A signed-in user: role, and the township, team or department the role is scoped to."""

    name: str
    role: Role
    township_code: str | None = None
    team_id: int | None = None
    department: str | None = None
    district_code: str | None = None  # None: every district of the deployment (a city's command centre)

    @property
    def on_team(self) -> bool:
        """Whether the role works in one village team (and sees that team's work only)."""
        return self.role in TEAM_ROLES

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            msg = f"unknown role {self.role!r}; expected one of {', '.join(ROLES)}"
            raise ValueError(msg)
        if self.role == "captain" and not self.township_code:
            msg = "a township captain needs a township"
            raise Refusal(msg, "refuse.needs_township")
        if self.role in TEAM_ROLES and self.team_id is None:
            msg = f"a {self.role} needs a team"
            raise Refusal(msg, "refuse.needs_team")
        if self.role == "liaison" and not (self.department or "").isalnum():
            msg = "a department liaison needs a department code"
            raise Refusal(msg, "refuse.needs_department")
