"""审计日志 Audit log (admins): every change with actor, time, before and after; CSV export."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from app_pages.common import (
    audit_service,
    data_table,
    error_text,
    labels,
    local_time,
    now_utc,
    require_principal,
    tr,
)
from patrol.permissions import AccessDeniedError

who = require_principal()
svc = audit_service()
st.header(tr("audit.header"))
st.caption(tr("audit.explain"))
c = st.columns(3)
days = c[0].selectbox(tr("audit.days"), (1, 7, 30, 365), index=1, key="audit_days")
actor = c[1].text_input(tr("audit.actor"), key="audit_actor", max_chars=40).strip() or None
entity = c[2].selectbox(
    tr("audit.entity"),
    [None, "incident", "user", "patrol", "inspection", "import", "areas", "evaluation", "score_entry"],
    key="audit_entity",
    format_func=lambda e: tr("cc.all") if e is None else tr(f"audit.entity_{e}"),
)
filters = {"since": now_utc() - timedelta(days=int(days)), "actor": actor, "entity": entity, "limit": 2000}
try:
    entries = svc.entries(who, **filters)
except AccessDeniedError as exc:
    st.error(error_text(exc))
    st.stop()
st.metric(tr("audit.count"), len(entries))
names = labels()
data_table(
    pd.DataFrame(
        {
            tr("audit.at"): [local_time(e.at) for e in entries],
            tr("audit.actor"): [e.actor for e in entries],
            tr("app.role"): [names.role(e.role) for e in entries],
            tr("audit.action"): [names.action(e.action) for e in entries],
            tr("audit.entity"): [names.entity(e.entity) for e in entries],
            tr("audit.entity_id"): [e.entity_id for e in entries],
            tr("audit.change"): [names.changes(e.before, e.after) for e in entries],
        }
    ),
    hide_index=True,
    width="stretch",
    key="audit_table",
)
st.download_button(
    tr("audit.csv"),
    svc.export_csv(who, names, **filters),
    file_name=f"audit-{now_utc():%Y%m%d}.csv",
    mime="text/csv",
    key="audit_csv",
)
