"""Who is using the app: the principal every service call is made as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from patrol.refusals import Refusal

Role: TypeAlias = Literal["command_center", "captain", "inspector", "liaison", "planner", "admin"]
ROLES: tuple[Role, ...] = ("command_center", "captain", "inspector", "liaison", "planner", "admin")


@dataclass(frozen=True)
class Principal:
    """A signed-in user: role, and the township, team or department the role is scoped to."""

    name: str
    role: Role
    township_code: str | None = None
    team_id: int | None = None
    department: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            msg = f"unknown role {self.role!r}; expected one of {', '.join(ROLES)}"
            raise ValueError(msg)
        if self.role == "captain" and not self.township_code:
            msg = "a township captain needs a township"
            raise Refusal(msg, "refuse.needs_township")
        if self.role == "inspector" and self.team_id is None:
            msg = "an inspector needs a team"
            raise Refusal(msg, "refuse.needs_team")
        if self.role == "liaison" and not (self.department or "").isalnum():
            msg = "a department liaison needs a department code"
            raise Refusal(msg, "refuse.needs_department")
