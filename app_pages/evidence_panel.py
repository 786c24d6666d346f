"""The evidence (证据材料) of an incident: photos shown, documents to download, and an uploader."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_pages.common import error_text, evidence_service, local_time, tr, uploader, user_service
from patrol.evidence import EXTENSIONS, MAX_BYTES, STAGES, default_stage, is_image
from patrol.incident import Incident
from patrol.permissions import AccessDeniedError
from patrol.refusals import Refusal
from patrol.roles import Principal

COLUMNS = 4


def stage_name(stage: str) -> str:
    return tr(f"evidence.stage_{stage}")


def attach(
    who: Principal, incident_id: str, files: list[Any], stage: str, note: str = ""
) -> tuple[int, list[str]]:
    """Attach uploaded files; the number kept and, for each refused one, why."""
    kept, refused = 0, []
    for f in files:
        try:
            evidence_service().add(who, incident_id, f.name, f.getvalue(), stage=stage, note=note)
            kept += 1
        except (Refusal, AccessDeniedError) as exc:
            refused.append(error_text(exc))
    return kept, refused


def evidence_panel(who: Principal, inc: Incident) -> None:
    ev = evidence_service()
    rows = ev.of(who, inc.id)
    people = user_service()
    st.subheader(tr("evidence.header", n=len(rows)))
    if not rows:
        st.caption(tr("evidence.none"))
    images = [r for r in rows if is_image(r)]
    for start in range(0, len(images), COLUMNS):
        for col, row in zip(st.columns(COLUMNS), images[start : start + COLUMNS], strict=False):
            _, data = ev.read(who, row.id)
            try:
                col.image(data, width="stretch")
            except Exception:  # a picture stored before decoding was checked: offered, not shown
                col.download_button(
                    tr("evidence.unreadable", name=row.filename), data, file_name=row.filename,
                    mime=row.content_type, key=f"evidence_dl_{row.id}",
                )  # fmt: skip
            col.caption(
                f"{stage_name(row.stage)} · {people.display_name(row.uploaded_by)} · {local_time(row.at)}"
                + (f" · {row.note}" if row.note else "")
            )
    for row in (r for r in rows if not is_image(r)):
        _, data = ev.read(who, row.id)
        st.download_button(
            tr("evidence.download", name=row.filename, stage=stage_name(row.stage), at=local_time(row.at)),
            data,
            file_name=row.filename,
            mime=row.content_type,
            key=f"evidence_dl_{row.id}",
        )
    if not ev.may_add(who, inc):
        return
    with st.expander(tr("evidence.add")):
        stage = st.selectbox(
            tr("evidence.stage"),
            STAGES,
            index=STAGES.index(default_stage(inc.state.value)),
            format_func=stage_name,
            key=f"evidence_stage_{inc.id}",
        )
        batch = st.session_state.get(f"evidence_batch_{inc.id}", 0)  # a new uploader once a batch is kept
        files = uploader(
            tr("evidence.files"),
            list(EXTENSIONS),
            f"evidence_files_{inc.id}_{batch}",
            mb=MAX_BYTES // 2**20,
            multiple=True,
        )
        note = st.text_input(tr("evidence.note"), key=f"evidence_note_{inc.id}", max_chars=200)
        if st.button(tr("evidence.upload"), key=f"evidence_upload_{inc.id}", disabled=not files):
            kept, refused = attach(who, inc.id, list(files or []), stage, note)
            # said after the rerun that shows the new files (a refusal must not vanish with it)
            st.session_state["evidence_flash"] = (kept, refused)
            if kept:
                st.session_state[f"evidence_batch_{inc.id}"] = batch + 1
            st.rerun()
        kept, refused = st.session_state.pop("evidence_flash", (0, []))
        if kept:
            st.success(tr("evidence.added", n=kept))
        for why in refused:
            st.error(why)
