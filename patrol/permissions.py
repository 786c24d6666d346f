"""Who may read and change which incidents: enforced in the services, not only the UI."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from patrol.catalog import default_catalog
from patrol.incident import COPIED_STATES, HANDOVER_STATES, Action, Incident
from patrol.roles import Principal

# Who verifies and closes a result (核查结案), decides a request (延期/挂账), calls the reporter back
# (回访), rules on a dispute or raises 督办: the command centre (值班长/监督员), never the township
# whose case it is and whose ranking the closure counts in
_COMMAND_ONLY = frozenset(
    {Action.VERIFY, Action.APPROVE, Action.REFUSE, Action.CALLBACK, Action.RULE, Action.SUPERVISE}
)
# What a department does with a handover (移交): accept it or return it with a reason
_DEPARTMENT = frozenset({Action.ACCEPT, Action.RETURN})
# What only a department gives: its opinion in a consultation (会商意见)
_DEPARTMENT_ONLY = frozenset({Action.OPINION})
_ACTIONS_BY_ROLE: dict[str, frozenset[Action]] = {
    "command_center": frozenset(Action) - _DEPARTMENT_ONLY,
    "captain": frozenset(Action) - _COMMAND_ONLY - _DEPARTMENT - _DEPARTMENT_ONLY,
    "inspector": frozenset({Action.CREATE, Action.SUBMIT, Action.RESUME, Action.CONSULT}),
    "grid_member": frozenset({Action.CREATE}),  # reports and evidence; no enforcement action
    "liaison": _DEPARTMENT | _DEPARTMENT_ONLY,
    "planner": frozenset(),
    "admin": frozenset({Action.CREATE}),
}


class AccessDeniedError(PermissionError):
    """The principal may not see or do this."""


class OutOfScopeError(AccessDeniedError):
    """The principal may not create a case there: said in words by ``key`` and ``values`` (data/i18n)."""

    def __init__(self, msg: str, key: str, values: dict[str, object] | None = None) -> None:
        super().__init__(msg)
        self.key = key
        self.values = values or {}


def can_read(who: Principal, incident: Incident) -> bool:
    """Whether ``who`` may see the incident."""
    if who.role == "captain":
        return within_township(who, incident.township_code)
    if who.on_team:
        return incident.team_id == who.team_id
    if who.role == "liaison":  # consultations it is invited to, what is handed over or copied to it
        handed = incident.state in HANDOVER_STATES and incident.department == who.department
        return handed or who.department in incident.consult_departments or is_copied_to(who, incident)
    return True


def is_copied_to(who: Principal, incident: Incident) -> bool:
    """Whether the incident is copied (抄告) to ``who``'s department: its item says so, and it is taken on."""
    return (
        who.department is not None
        and incident.state in COPIED_STATES
        and incident.item_code in default_catalog().copied_items(who.department)
    )


def check_read(who: Principal, incident: Incident) -> None:
    """Raise AccessDeniedError unless ``who`` may see the incident."""
    if not can_read(who, incident):
        msg = f"{who.role} {who.name} may not see incident {incident.number} (not in their scope)"
        raise AccessDeniedError(msg)


def allowed(who: Principal, action: Action) -> bool:
    """Whether the role may take the action at all."""
    return action in _ACTIONS_BY_ROLE.get(who.role, frozenset())


def roles_for(action: Action) -> tuple[str, ...]:
    """The roles that may take the action (the rulebook publishes this)."""
    return tuple(role for role, actions in _ACTIONS_BY_ROLE.items() if action in actions)


def check_act(who: Principal, incident: Incident, action: Action) -> None:
    """Raise AccessDeniedError unless ``who`` may take ``action`` on the incident."""
    check_read(who, incident)
    if not allowed(who, action):
        msg = f"a {who.role} may not {action.value} incidents"
        raise AccessDeniedError(msg)
    if action in _DEPARTMENT and who.role == "liaison" and incident.department != who.department:
        msg = f"{incident.number} is handed over to {incident.department}, not to {who.department}"
        raise AccessDeniedError(msg)


# Who adds evidence (证据材料) to an incident they may see: those who work on it
_ATTACH_ROLES = frozenset({"command_center", "captain", "inspector", "grid_member", "liaison"})


def check_attach(who: Principal, incident: Incident) -> None:
    """Raise AccessDeniedError unless ``who`` may add evidence to the incident."""
    check_read(who, incident)
    if who.role not in _ATTACH_ROLES:
        msg = f"a {who.role} may not add evidence to incidents"
        raise AccessDeniedError(msg)


def within_township(who: Principal, township_code: str | None) -> bool:
    """Whether ``who`` may act in the township: a captain only in their own.

    The one captain rule (assigning, planning patrols and inspections, creating incidents);
    other roles act wherever their role allows.
    """
    return who.role != "captain" or township_code == who.township_code


def check_township(who: Principal, township_code: str | None, what: str = "act") -> None:
    """Raise AccessDeniedError when a captain reaches outside their township (``what``: the deed)."""
    if not within_township(who, township_code):
        msg = f"captain of {who.township_code} may not {what} in township {township_code}"
        raise AccessDeniedError(msg)


def check_admin(who: Principal | None, what: str) -> None:
    """Raise AccessDeniedError unless ``who`` is an admin (None: the server's command line)."""
    if who is not None and who.role != "admin":
        msg = f"a {who.role} may not manage {what}"
        raise AccessDeniedError(msg)


# Who loads files of incidents (a captain: only incidents of their own township)
_IMPORT_ROLES = frozenset({"admin", "command_center", "captain"})
# Who writes incidents out to files (each within what they may read)
_EXPORT_ROLES = frozenset({"admin", "command_center", "captain", "planner"})


def check_import(who: Principal, what: str = "incidents", townships: Iterable[str] = ()) -> None:
    """Raise AccessDeniedError unless the role may import incidents (or other records: ``what``).

    Given the townships the records belong to, a captain may import only their own's.
    """
    if who.role not in _IMPORT_ROLES:
        msg = f"a {who.role} may not import {what}"
        raise AccessDeniedError(msg)
    for code in sorted(set(townships)):
        check_township(who, code, f"import {what}")


def check_export(who: Principal) -> None:
    """Raise AccessDeniedError unless the role may export incidents."""
    if who.role not in _EXPORT_ROLES:
        msg = f"a {who.role} may not export incidents"
        raise AccessDeniedError(msg)


def creates_in(who: Principal, township_code: str) -> bool:
    """Whether ``who`` may create an incident routed to the township (a captain: their own only)."""
    return within_township(who, township_code)


# Who reads the district-wide analytics (rankings, hot spots, scenario evidence).
_ANALYTICS_ROLES = frozenset({"command_center", "planner"})


def check_analytics(who: Principal) -> None:
    """Raise AccessDeniedError unless the role reads district-wide analytics."""
    if who.role not in _ANALYTICS_ROLES:
        msg = f"a {who.role} may not read district-wide analytics"
        raise AccessDeniedError(msg)


# Who sees the reporter's name and phone: those who call the reporter back.
_PERSONAL_DATA_ROLES = frozenset({"command_center", "captain", "inspector", "grid_member"})


def sees_personal_data(who: Principal) -> bool:
    """Whether the role sees reporters' names and phone numbers unmasked."""
    return who.role in _PERSONAL_DATA_ROLES


def mask_name(name: str) -> str:
    """Keep the first character of a name: 张三 → 张*, 欧阳娜娜 → 欧***."""
    name = name.strip()
    return name[:1] + "*" * (len(name) - 1) if name else ""


def mask_phone(phone: str) -> str:
    """Keep the first three and last four digits of a phone number: 13812345678 → 138****5678."""
    digits = [c for c in phone if c.isdigit()]
    if not digits:
        return ""
    if len(digits) <= 7:
        return "*" * (len(digits) - 2) + "".join(digits[-2:]) if len(digits) > 2 else "*" * len(digits)
    return "".join(digits[:3]) + "*" * (len(digits) - 7) + "".join(digits[-4:])


def masked_for(who: Principal, inc: Incident) -> Incident:
    """The incident as ``who`` may see it: reporter name and phone masked unless the role needs them."""
    if sees_personal_data(who) or not (inc.reporter_name or inc.reporter_phone):
        return inc
    return replace(
        inc, reporter_name=mask_name(inc.reporter_name), reporter_phone=mask_phone(inc.reporter_phone)
    )


def session_district(who: Principal | None, wanted: str | None, held: Sequence[str]) -> str | None:
    """The district whose view ``who`` works in, in a store holding the districts ``held``.

    The one district rule: a user kept to a district (a captain's, a team member's, a
    district's command centre) works in it and in no other, whatever is asked; a city-wide
    user works in the district asked for, else the first held. None: the store holds one
    district (or none), and the whole store is that district.

    Raises
    ------
    AccessDeniedError
        If a user kept to one district asks for another.
    """
    if len(held) <= 1 and (who is None or who.district_code is None or who.district_code in held):
        return None
    if who is not None and who.district_code is not None:
        if wanted not in (None, who.district_code):
            msg = f"{who.name} works in district {who.district_code}, not in {wanted}"
            raise AccessDeniedError(msg)
        return who.district_code
    return wanted if wanted in held else held[0]
