"""会商事项 Consultations a department liaison is invited to (and only those)."""

import streamlit as st

from app_pages.common import (
    incident_buttons,
    incident_service,
    labels,
    now_utc,
    require_district,
    require_principal,
    tr,
)
from patrol.incident import State
from patrol.incidents import IncidentQuery

require_district()
who = require_principal()
svc = incident_service()
st.header(tr("consult.header"))
st.subheader(tr("consult.handovers"))
st.caption(tr("consult.handovers_help"))
handed = svc.handovers(who)
if not handed:
    st.info(tr("consult.no_handovers"))
now = now_utc()
late = {i.id for i in handed if (due := svc.acceptance_due(i)) is not None and now > due}
incident_buttons(handed, "handover_open", flagged={i: tr("consult.late") for i in late})
st.subheader(tr("consult.consultations"))
st.caption(tr("consult.explain", department=labels().department(who.department)))
only_open = st.toggle(tr("consult.only_open"), value=True, key="consult_open")
query = IncidentQuery(states=(State.CONSULTING.value,) if only_open else None, limit=200)
rows = svc.list_incidents(who, query)
if not rows:
    st.info(tr("consult.none"))
incident_buttons(rows, "consult_open")
st.subheader(tr("consult.copies"))
st.caption(tr("consult.copies_help"))
copies_open = st.toggle(tr("consult.copies_open"), value=True, key="copies_open")
copied = svc.copied(who, limit=200, only_open=copies_open)
if not copied:
    st.info(tr("consult.no_copies"))
incident_buttons(copied, "copied_open")
