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


FAR_M = 300  # a photo taken farther than this from the incident's point is flagged for a check


def _show(col: Any, who: Principal, row: Any, data: bytes) -> None:
    """One photo with who gave it, when, at which stage, why, and how far from the incident it was taken."""
    try:
        col.image(data, width="stretch")
    except Exception:  # a picture stored before decoding was checked: offered, not shown
        col.download_button(
            tr("evidence.unreadable", name=row.filename), data, file_name=row.filename,
            mime=row.content_type, key=f"evidence_dl_{row.id}",
        )  # fmt: skip
    place = evidence_service().place(who, row, data)
    where = (
        tr("evidence.place_none")
        if place is None
        else tr(
            "evidence.place_far" if place.distance_m > FAR_M else "evidence.place",
            metres=f"{place.distance_m:,.0f}",
        )
    )
    col.caption(
        f"{stage_name(row.stage)} · {user_service().display_name(row.uploaded_by)} · {local_time(row.at)}"
        + (f" · {row.note}" if row.note else "")
        + f" · {where}"
    )


def evidence_panel(who: Principal, inc: Incident) -> None:
    ev = evidence_service()
    rows = ev.of(who, inc.id)
    st.subheader(tr("evidence.header", n=len(rows)))
    if not rows:
        st.caption(tr("evidence.none"))
    images = [r for r in rows if is_image(r)]
    photos = {r.id: ev.read(who, r.id)[1] for r in images}
    before = [r for r in images if r.stage == "report"]
    after = [r for r in images if r.stage in ("handling", "verification")]
    if before and after:  # 整改前后: what was found next to what it became, each photo shown once
        st.markdown(f"**{tr('evidence.before_after')}**")
        left, right = st.columns(2)
        for col, title, group in ((left, "evidence.before", before), (right, "evidence.after", after)):
            col.caption(tr(title))
            for row in group:
                _show(col, who, row, photos[row.id])
        images = [r for r in images if r not in before and r not in after]
    for start in range(0, len(images), COLUMNS):
        for col, row in zip(st.columns(COLUMNS), images[start : start + COLUMNS], strict=False):
            _show(col, who, row, photos[row.id])
    if photos:
        st.caption(tr("evidence.policy"))
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
    # what the last upload kept and refused, said after the rerun that shows the new files (a refusal
    # must not vanish with it); the expander opens for it, as the photos above may have moved it
    kept, refused = st.session_state.pop("evidence_flash", (0, []))
    with st.expander(tr("evidence.add"), expanded=bool(kept or refused)):
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
            added, refusals = attach(who, inc.id, list(files or []), stage, note)
            st.session_state["evidence_flash"] = (added, refusals)
            if added:
                st.session_state[f"evidence_batch_{inc.id}"] = batch + 1
            st.rerun()
        if kept:
            st.success(tr("evidence.added", n=kept))
        for why in refused:
            st.error(why)
