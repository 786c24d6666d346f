"""The rulebook, published to every role: the process as the services enforce it (三项制度)."""

import pandas as pd
import streamlit as st

from app_pages.common import data_table, incident_service, labels, require_principal, tr
from patrol.rulebook import rulebook

require_principal()
names = labels()
book = rulebook(incident_service().catalog)
st.header(tr("rules.header"))
st.caption(tr("rules.intro"))

# the loop as a picture: states, and the actions between them (one arrow per pair of states,
# naming every action it stands for; a dashed loop for actions that keep the state)
between: dict[tuple[str, str], list[str]] = {}
for t in book["transitions"]:
    for to in t["to_states"]:
        between.setdefault((t["from_state"], to), []).append(names.action(t["action"]))
edges = [
    f'"{names.state(frm)}" -> "{names.state(to)}" [label="{"、".join(acts)}"'
    + (', style="dashed"]' if frm == to else "]")
    + ";"
    for (frm, to), acts in between.items()
]
st.graphviz_chart(
    'digraph { rankdir=LR; node [shape=box, style=rounded, fontname="sans-serif"];'
    ' edge [fontname="sans-serif", fontsize=10]; ' + " ".join(edges) + " }",
    width="stretch",
)

st.subheader(tr("rules.transitions"))
data_table(
    pd.DataFrame(
        {
            tr("rules.from"): [names.state(t["from_state"]) for t in book["transitions"]],
            tr("rules.action"): [names.action(t["action"]) for t in book["transitions"]],
            tr("rules.to"): ["／".join(names.state(s) for s in t["to_states"]) for t in book["transitions"]],
            tr("rules.roles"): ["、".join(names.role(r) for r in t["roles"]) for t in book["transitions"]],
            tr("rules.needs"): [
                "、".join(tr(f"field.{f}") for f in t["needs"]) or "—" for t in book["transitions"]
            ],
            tr("rules.approval"): [
                tr("rules.approval_yes") if t["approval"] else "" for t in book["transitions"]
            ],
        }
    ),
    hide_index=True,
    width="stretch",
    key="rules_transitions",
)

st.subheader(tr("rules.duties"))
st.markdown("\n".join(f"- {tr(f'rule.{d}')}" for d in book["duties"]))

st.subheader(tr("rules.limits"))
st.caption(tr("rules.limits_help", minutes=book["urgent_response"]["minutes"]))
first, last = book["working_days"]["official_years"]
st.caption(tr("rules.workdays", first=first, last=last))
data_table(
    pd.DataFrame(
        {
            tr("col.item"): [x["name"] for x in book["limits"]],
            tr("rules.response_minutes"): [x["response_minutes"] for x in book["limits"]],
            tr("rules.assessment_hours"): [x["assessment_hours"] for x in book["limits"]],
            tr("rules.handling_days"): [x["handling_days"] for x in book["limits"]],
            tr("rules.verification_hours"): [x["verification_hours"] for x in book["limits"]],
            tr("rules.max_deferral_days"): [x["max_deferral_days"] for x in book["limits"]],
            tr("rules.high_frequency"): ["✓" if x["high_frequency"] else "" for x in book["limits"]],
            tr("rules.first_offence"): [x["first_offence"] for x in book["limits"]],
            tr("detail.copies"): [
                "、".join(names.department(d) for d in x["copy_to"]) for x in book["limits"]
            ],
        }
    ),
    hide_index=True,
    width="stretch",
    key="rules_limits",
)

st.subheader(tr("rules.departments"))
data_table(
    pd.DataFrame(
        {
            tr("incident.handover_department"): [names.department(d["code"]) for d in book["departments"]],
            tr("rules.accept_hours"): [d["accept_hours"] for d in book["departments"]],
        }
    ),
    hide_index=True,
    key="rules_departments",
)
