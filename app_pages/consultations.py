"""会商事项 Consultations a department liaison is invited to (and only those)."""

import streamlit as st

from app_pages.common import (
    incident_service,
    item_name,
    local_time,
    open_incident,
    require_district,
    require_principal,
    state_name,
    tr,
)
from patrol.incident import State
from store.rows import IncidentQuery

require_district()
who = require_principal()
svc = incident_service()
st.header(tr("consult.header"))
st.caption(tr("consult.explain", department=who.department or "—"))
only_open = st.toggle(tr("consult.only_open"), value=True, key="consult_open")
query = IncidentQuery(states=(State.CONSULTING.value,) if only_open else None, limit=200)
rows = svc.list_incidents(who, query)
if not rows:
    st.info(tr("consult.none"))
for inc in rows:
    st.button(
        f"{inc.number} · {item_name(inc.item_code)} · {state_name(inc.state.value)}"
        f" · {local_time(inc.reported_at)}",
        key=f"consult_open_{inc.id}",
        on_click=open_incident,
        args=(inc.id,),
        width="stretch",
    )
