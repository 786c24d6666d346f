from datetime import datetime, time, timedelta

import pandas as pd
import streamlit as st

from app_pages.common import (
    basemap_from_env,
    data_table,
    error_text,
    evidence_service,
    incident_service,
    item_name,
    labels,
    lang,
    local_time,
    md_escape,
    now_utc,
    require_district,
    require_principal,
    state_name,
    tr,
    user_service,
)
from app_pages.evidence_panel import evidence_panel
from app_pages.maps import show_map, village_layer
from layers.base import base_map
from layers.incidents import MarkerData, marker_layer
from patrol.dossier import incident_dossier
from patrol.incident import (
    ASSESSMENT_OUTCOMES,
    CALLBACK_RESULTS,
    DECISIONS,
    REQUEST_KINDS,
    RULINGS,
    SUPERVISION_LEVELS,
    Action,
    WorkflowError,
)
from patrol.incidents import LOCAL_TZ
from patrol.permissions import AccessDeniedError
from patrol.refusals import Refusal

data = require_district()
who = require_principal()
svc = incident_service()
st.header(tr("incident.header"))

typed = st.text_input(tr("incident.open_by_number"), key="incident_number", placeholder="NH-20261127-0001")
if typed:
    st.session_state["incident_id"] = typed.strip()
incident_id = st.session_state.get("incident_id")
if not incident_id:
    st.info(tr("incident.none"))
    st.stop()
try:
    inc = svc.get(who, incident_id)
except KeyError:
    st.error(tr("incident.not_found", id=md_escape(incident_id)))
    st.stop()
except AccessDeniedError:
    st.error(tr("incident.denied", id=md_escape(incident_id)))
    st.stop()

now = now_utc()
village = next((v for v in data.villages if v.code == inc.village_code), None)
names = labels()
people = user_service()
st.subheader(f"{inc.number} · {item_name(inc.item_code)} · {state_name(inc.state.value)}")
if inc.is_overdue(now):
    st.error(tr("incident.overdue", due=local_time(inc.due_at)))
if inc.awaiting_response_overdue(now):
    st.warning(tr("incident.alarm", minutes=inc.response_minutes))
if inc.request is not None:  # a deferral or hold waiting for the command centre
    asked_due = inc.request.get("new_due_at")
    st.warning(
        tr(
            "incident.pending_request",
            kind=tr(f"request_kind.{inc.request['kind']}"),
            by=md_escape(people.display_name(inc.request["by"])),
            at=local_time(datetime.fromisoformat(inc.request["at"])),
            reason=md_escape(inc.request["reason"]),
            due=tr("incident.pending_due", due=local_time(datetime.fromisoformat(asked_due)))
            if asked_due
            else "",
        )
    )
if inc.supervision_level:
    st.warning(tr("incident.supervised", level=tr(f"supervision.{inc.supervision_level}")))
acceptance_due = svc.acceptance_due(inc)
if acceptance_due is not None:  # a handover waiting for the department
    key = "incident.acceptance_overdue" if now > acceptance_due else "incident.acceptance_due"
    (st.error if now > acceptance_due else st.info)(
        tr(key, department=names.department(inc.department), due=local_time(acceptance_due))
    )
clocks = svc.stage_clocks(who, inc)  # each stage's own limit, in working time (patrol.stages)
late_stage = next((c for c in clocks if c.ended is None and c.stage != "handling" and c.late(now)), None)
if late_stage is not None and late_stage.stage != "acceptance":  # acceptance is said just above
    st.error(tr("stage.late_now", stage=tr(f"stage.{late_stage.stage}"), due=local_time(late_stage.due)))
if inc.is_paused and inc.paused_at is not None:
    st.info(tr("incident.held", at=local_time(inc.paused_at)))
left, right = st.columns([3, 2])
fields = {
    tr("col.number"): inc.number,
    tr("col.item"): item_name(inc.item_code),
    tr("col.state"): state_name(inc.state.value),
    tr("col.source"): tr(f"source.{inc.source.value}"),
    tr("col.time"): local_time(inc.reported_at),
    tr("col.due"): local_time(inc.due_at),
    tr("incident.first_response"): local_time(inc.first_response_at),
    tr("col.township"): names.township(inc.township_code),
    tr("incident.village"): village.name if village else (inc.village_code or "—"),
    tr("dispatch.team"): names.team(inc.team_id),
    tr("incident.handler"): tr(f"handler.{inc.handler}")
    + (f" · {names.department(inc.department)}" if inc.department else ""),
    tr("incident.routing"): inc.routing_reason,
    tr("incident.description"): inc.description,
    tr("incident.reporter"): f"{inc.reporter_name} {inc.reporter_phone}".strip() or "—",
    tr("incident.coordinates"): f"{inc.lat:.6f}, {inc.lng:.6f} (WGS84)",
    tr("incident.version"): str(inc.version),
}
for label, value in (
    (tr("incident.duplicate_of"), inc.suspected_duplicate_of),
    (tr("incident.repeat_of"), inc.repeat_of),
    (tr("incident.merged_into"), inc.duplicate_of),
    (tr("incident.patrol"), inc.patrol_task_id),
    (tr("incident.satisfaction"), tr(f"callback.{inc.satisfaction}") if inc.satisfaction else None),
    (
        tr("incident.supervision_level"),
        tr(f"supervision.{inc.supervision_level}") if inc.supervision_level else None,
    ),
):
    if value:
        fields[label] = value
left.table(
    pd.DataFrame({tr("incident.field"): list(fields), tr("incident.value"): list(fields.values())}).set_index(
        tr("incident.field")
    )
)
with right:
    basemap = basemap_from_env()
    box = (inc.lng - 0.006, inc.lat - 0.005, inc.lng + 0.006, inc.lat + 0.005)
    m = base_map(box, basemap, height=320)
    if village:
        village_layer([village], basemap).add_to(m)
    marker_layer(
        [MarkerData(inc.id, inc.lat, inc.lng, inc.state.value, inc.number, inc.description)],
        name=inc.number,
        basemap=basemap,
    ).add_to(m)
    show_map(m, "incident_map", height=320)

if inc.consult_departments:  # the consultation: who was invited, who has spoken, what they said
    talk = svc.consultation(inc)
    st.subheader(tr("incident.consultation"))
    st.caption(
        tr(
            "incident.consultation_by",
            by=people.display_name(talk.called_by or "—"),
            at=local_time(talk.called_at),
        )
    )
    data_table(
        pd.DataFrame(
            {
                tr("incident.handover_department"): [names.department(d) for d in talk.invited],
                tr("incident.opinion"): [
                    talk.opinions[d].text if d in talk.opinions else tr("incident.opinion_waiting")
                    for d in talk.invited
                ],
                tr("incident.actor"): [
                    people.display_name(talk.opinions[d].actor) if d in talk.opinions else "—"
                    for d in talk.invited
                ],
                tr("col.time"): [
                    local_time(talk.opinions[d].at) if d in talk.opinions else "—" for d in talk.invited
                ],
            }
        ),
        hide_index=True,
        width="stretch",
        key="incident_opinions",
    )

evidence_panel(who, inc)
_ev, _lang = evidence_service(), lang()  # the file is made only when asked for, off the page's run
st.download_button(
    tr("dossier.download"),
    data=lambda: incident_dossier(_ev, who, inc.id, _lang),
    file_name=f"{inc.number}.zip",
    mime="application/zip",
    on_click="ignore",
    help=tr("dossier.help"),
    key="incident_dossier",
)

st.subheader(tr("incident.stages"))


def _stage_status(c) -> str:  # type: ignore[no-untyped-def]
    hours = round(c.late_by(now).total_seconds() / 3600, 1)
    if c.ended is None and c.paused_at is not None:
        return tr("stage.paused")
    if c.late(now):
        return tr("stage.late_running" if c.ended is None else "stage.late", hours=hours)
    return tr("stage.running") if c.ended is None else tr("stage.on_time")


data_table(
    pd.DataFrame(
        {
            tr("incident.stage"): [tr(f"stage.{c.stage}") for c in clocks],
            tr("stage.status"): [_stage_status(c) for c in clocks],  # first after the stage: read on a phone
            tr("stage.due"): [local_time(c.due) for c in clocks],
            tr("stage.started"): [local_time(c.started) for c in clocks],
            tr("stage.ended"): [local_time(c.ended) if c.ended else "—" for c in clocks],
        }
    ),
    hide_index=True,
    width="stretch",
    key="incident_stages",
)
st.caption(tr("stage.help"))

st.subheader(tr("incident.timeline"))
events = svc.timeline(who, inc.id)
called = {a: people.display_name(a) for a in {e.actor for e in events}}  # people by name, not account
data_table(
    pd.DataFrame(
        {
            "#": [e.seq for e in events],
            tr("col.time"): [local_time(e.at) for e in events],
            tr("incident.action"): [tr(f"action.{e.action.value}") for e in events],
            tr("incident.to_state"): [state_name(e.to_state.value) for e in events],
            tr("incident.actor"): [f"{called[e.actor]}（{names.role(e.role)}）" for e in events],
            tr("incident.note"): [e.note for e in events],
            tr("incident.details"): [names.details(e.payload) for e in events],
        }
    ),
    hide_index=True,
    width="stretch",
    key="incident_timeline",
)

actions = svc.actions_for(who, inc)
if not actions:
    st.caption(tr("incident.no_actions"))
    st.stop()
st.subheader(tr("incident.actions"))
township_teams = {t.id: t.name for t in svc.teams.values() if t.village_code.startswith(inc.township_code)}
tabs = st.tabs([tr(f"action.{a.value}") for a in actions])
for tab, action in zip(tabs, actions, strict=True):
    with tab, st.form(f"act_{action.value}"):
        fields_in: dict[str, object] = {}
        if action in (Action.DISPATCH, Action.REASSIGN):
            ids = list(township_teams)
            fields_in["team_id"] = st.selectbox(
                tr("dispatch.team"),
                ids,
                index=ids.index(inc.team_id) if inc.team_id in ids else 0,
                format_func=township_teams.get,
                key=f"act_{action.value}_team",
            )
        if action == Action.DISPATCH:
            first_offence = svc.catalog.item(inc.item_code).first_offence  # "" when not on the list
            fields_in["outcome"] = st.selectbox(
                tr("incident.outcome"),
                [o for o in ASSESSMENT_OUTCOMES if o != "first_offence_no_penalty" or first_offence],
                format_func=lambda o: tr(f"outcome.{o}"),
                key="act_dispatch_outcome",
            )
            case_reason = st.text_input(
                tr("incident.case_reason"), key="act_dispatch_reason", help=tr("incident.case_reason_help")
            )
            if fields_in["outcome"] == "case":
                fields_in["reason"] = case_reason
            st.caption(
                tr("incident.first_offence_condition", condition=first_offence)
                if first_offence
                else tr("incident.first_offence_not_listed")
            )
        if action == Action.REQUEST:
            st.caption(tr("incident.request_hint"))
            fields_in["kind"] = st.radio(
                tr("incident.request_kind"),
                REQUEST_KINDS,
                format_func=lambda k: tr(f"request_kind.{k}"),
                key="act_request_kind",
                horizontal=True,
            )
            # the latest day a deferral may reach (its 18:00 no later than the limit)
            latest = svc.latest_deferral(inc).astimezone(LOCAL_TZ)
            latest_day = latest.date() - timedelta(days=int(latest.time() < time(18, 0)))
            new_day = st.date_input(tr("incident.new_due_defer"), value=latest_day, key="act_request_day")
            if fields_in["kind"] == "defer":  # a hold asks for no date: its clock stops until resumed
                fields_in["new_due_at"] = datetime.combine(new_day, time(18, 0), tzinfo=LOCAL_TZ)
        if action == Action.HANDOVER:
            st.caption(tr("incident.handover_hint"))
            departments = list(svc.catalog.departments)
            fields_in["department"] = st.selectbox(
                tr("incident.handover_department"),
                departments,
                index=departments.index(inc.department) if inc.department in departments else 0,
                format_func=names.department,
                key="act_handover_department",
            )
        if action == Action.RULE:
            fields_in["decision"] = st.selectbox(
                tr("incident.ruling"),
                list(RULINGS),
                format_func=lambda d: tr(f"decision.{d}"),
                key="act_rule_decision",
            )
        if action == Action.SUPERVISE:
            higher = [lvl for lvl in SUPERVISION_LEVELS if lvl > inc.supervision_level]
            fields_in["level"] = st.selectbox(
                tr("incident.supervision_level"),
                higher,
                format_func=lambda lvl: tr(f"supervision.{lvl}"),
                key="act_supervise_level",
            )
        if action in (
            Action.REJECT, Action.REQUEST, Action.REFUSE, Action.RETURN, Action.DISPUTE, Action.SUPERVISE
        ):  # fmt: skip
            fields_in["reason"] = st.text_input(tr("incident.reason"), key=f"act_{action.value}_reason")
        if action == Action.MERGE:
            fields_in["canonical_id"] = st.text_input(
                tr("incident.canonical"), value=inc.suspected_duplicate_of or "", key="act_merge_canonical"
            )
        if action == Action.CONSULT:
            fields_in["departments"] = st.multiselect(
                tr("incident.departments"),
                list(svc.catalog.departments),
                format_func=lambda d: svc.catalog.departments[d].name_zh,
                key="act_consult_departments",
                placeholder=tr("app.choose"),
            )
        if action == Action.DECIDE:
            fields_in["decision"] = st.selectbox(
                tr("incident.decision"),
                list(DECISIONS),
                format_func=lambda d: tr(f"decision.{d}"),
                key="act_decide_decision",
            )
        if action == Action.OPINION:
            fields_in["opinion"] = st.text_area(tr("incident.opinion"), key="act_opinion_text")
        if action == Action.SUBMIT:
            fields_in["result"] = st.text_area(tr("incident.result"), key="act_submit_result")
            if inc.assessment_outcome == "case":
                officers = svc.certified_officers(who, inc)
                fields_in["officers"] = st.multiselect(
                    tr("incident.officers"),
                    list(officers),
                    default=[who.name] if who.name in officers else [],
                    format_func=lambda u, names=officers: f"{names[u]}（{u}）",  # type: ignore[misc]
                    max_selections=2,
                    key="act_submit_officers",
                    help=tr("incident.officers_help"),
                    placeholder=tr("app.choose"),
                )
        if action == Action.VERIFY:
            fields_in["result"] = st.radio(
                tr("incident.verify_result"),
                ["pass", "fail"],
                format_func=lambda r: tr(f"verify.{r}"),
                key="act_verify_result",
                horizontal=True,
            )
        if action == Action.CALLBACK:
            st.caption(tr("incident.callback_hint"))
            fields_in["result"] = st.radio(
                tr("incident.callback_result"),
                CALLBACK_RESULTS,
                format_func=lambda r: tr(f"callback.{r}"),
                key="act_callback_result",
                horizontal=True,
            )
        note = st.text_input(tr("incident.note"), key=f"act_{action.value}_note")
        if st.form_submit_button(tr(f"action.{action.value}"), type="primary"):
            try:
                svc.act(who, inc.id, action, expected_version=inc.version, note=note, **fields_in)
            except (
                WorkflowError,
                AccessDeniedError,
                Refusal,
                KeyError,
            ) as exc:  # a refusal, said, not a crash
                st.error(error_text(exc))
            else:
                st.success(tr("incident.done", action=tr(f"action.{action.value}")))
                st.rerun()
