from dataclasses import replace
from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages.common import (
    area_data,
    basemap_from_env,
    data_table,
    error_text,
    incident_service,
    labels,
    lang,
    reads,
    reason_text,
    refuse_large_upload,
    require_principal,
    tr,
    uploader,
)
from app_pages.maps import show_map
from geo.boundaries import BoundaryError
from geo.crs import CRS_NAMES
from layers.base import area_layer, base_map
from patrol.exporter import EXPORT_FORMATS, export_incidents
from patrol.importer import (
    DEFAULT_COLUMNS,
    REQUIRED_ROLES,
    IncidentImportError,
    Mapping,
    check_labels,
    guess_columns,
    import_incidents,
    load_mapping,
    read_table,
)
from patrol.incident import Source
from patrol.uploads import discard, save_upload, scratch_file

who = require_principal()
views = reads()
st.header(tr("data.header"))


def _saved(upload) -> Path:  # type: ignore[no-untyped-def]
    return save_upload(upload.name, upload.getvalue())


LABELS_SHOWN = 30  # a file with more unknown labels needs a mapping file (gridpatrol import --mapping)


def _label_mapping(frame: pd.DataFrame, mapping: Mapping) -> Mapping:
    """Ask what the file's unknown item and source labels mean; the mapping with the answers."""
    svc = incident_service()
    check = check_labels(svc, frame, mapping)
    if not check.items and not check.sources:
        st.success(tr("data.labels_known"))
        return mapping
    st.subheader(tr("data.labels_title"))
    st.caption(tr("data.labels_help"))
    items = sorted(svc.catalog.items.values(), key=lambda i: i.code)
    answers: dict[str, dict[str, str]] = {"items": {}, "sources": {}}
    for kind, unknown, options, name in (
        ("items", check.items, [None, *(i.code for i in items)], labels().item),
        ("sources", check.sources, [None, *(s.value for s in Source)], labels().source),
    ):
        shown = sorted(unknown.items(), key=lambda kv: -kv[1])[:LABELS_SHOWN]
        cols = st.columns(3)
        for n, (label, rows) in enumerate(shown):
            code = cols[n % 3].selectbox(
                tr(f"data.label_{kind}", label=label or "—", rows=rows),
                options,
                key=f"data_label_{kind}_{label}",
                format_func=lambda v, name=name: tr("data.label_refuse") if v is None else name(v),
            )
            if code is not None:
                answers[kind][label] = code
        if len(unknown) > LABELS_SHOWN:
            st.caption(tr("data.labels_more", n=len(unknown) - LABELS_SHOWN))
    answered = replace(
        mapping,
        items={**mapping.items, **answers["items"]},
        sources={**mapping.sources, **answers["sources"]},
    )
    if left := check_labels(svc, frame, answered).refused:
        st.info(tr("data.labels_left", rows=left))
    return answered


tab_areas, tab_incidents, tab_export = st.tabs(
    [tr("data.boundaries"), tr("data.incidents"), tr("data.export")]
)

with tab_areas:
    upload = uploader(
        tr("data.boundary_file"), ["geojson", "json", "gpkg", "zip", "kml"], "data_boundaries_file"
    )
    c = st.columns(3)
    level = c[0].radio(
        tr("data.level"),
        ["township", "village"],
        key="data_level",
        format_func=lambda v: tr(f"data.level_{v}"),
        horizontal=True,
    )
    crs = c[1].selectbox(
        tr("report.crs"),
        [None, *CRS_NAMES],
        key="data_boundary_crs",
        format_func=lambda v: tr("data.crs_auto") if v is None else tr(f"crs.{v}"),
    )
    code_field = c[2].text_input(tr("data.code_field"), key="data_code_field") or None
    if upload is not None and not refuse_large_upload(upload):
        path = _saved(upload)
        try:
            result = views.import_boundaries(path, level, crs=crs, code_field=code_field, dry_run=True)
        except BoundaryError as exc:
            st.error(error_text(exc))
        except ValueError as exc:
            st.error(tr("data.unusable", error=error_text(exc)))
        else:
            report = result.report
            st.write(tr("data.report", n=report.n_features, problems=len(report.problems)))
            if report.problems:
                found = report.to_frame()
                data_table(
                    pd.DataFrame(
                        {
                            tr("data.col_problem"): [tr(f"boundary.kind.{k}") for k in found["kind"]],
                            tr("data.col_feature"): found["feature"],
                            tr("data.col_area"): found["area_m2"].round(0),
                        }
                    ),
                    hide_index=True,
                    width="stretch",
                    key="data_report_table",
                )
                bad = report.problem_geometries()
                if len(bad):
                    m = base_map(tuple(bad.total_bounds), basemap_from_env(), height=380)
                    area_layer(
                        list(bad.geometry),
                        list(bad["kind"]),
                        list(bad["feature"]),
                        name=tr("data.problems"),
                        color="#d7301f",
                        weight=2,
                        fill_opacity=0.3,
                    ).add_to(m)
                    show_map(m, "data_problem_map", height=380)
            else:
                st.success(tr("data.clean"))
            effect = result.effect
            blocked = effect is not None and effect.orphans_any
            if blocked:
                st.error(tr("data.orphans", **effect.orphans, removed=len(effect.removed)))
            confirmed = st.checkbox(
                tr("data.confirm_replace", **views.area_counts()),
                key="data_confirm_boundaries",
                disabled=blocked,
            )
            if st.button(
                tr("data.load_boundaries"),
                key="data_load_boundaries",
                type="primary",
                disabled=blocked or not confirmed,
            ):
                with st.spinner(tr("data.loading")):
                    done = views.import_boundaries(path, level, crs=crs, code_field=code_field, who=who)
                discard(path)
                area_data.clear()
                st.success(
                    tr("data.loaded", **{k: v for k, v in done.counts.items() if k != "remapped_codes"})
                )

with tab_incidents:
    upload = uploader(tr("data.incident_file"), ["csv", "xlsx", "geojson", "json"], "data_incidents_file")
    preset = st.selectbox(
        tr("data.mapping"),
        [None, "hotline12345", "gridpatrol"],
        key="data_mapping",
        format_func=lambda p: tr("data.mapping_manual") if p is None else tr(f"data.preset_{p}"),
    )
    if upload is not None and not refuse_large_upload(upload):
        # read once per uploaded file, not on every choice below; saved only while it is read
        cached = st.session_state.get("data_upload")
        if cached is None or cached[0] != upload.file_id:
            path = _saved(upload)
            try:
                frame, _ = read_table(path)
            except IncidentImportError as exc:
                st.error(error_text(exc))
                st.stop()
            finally:
                discard(path)
            cached = st.session_state["data_upload"] = (upload.file_id, frame)
        frame = cached[1]
        st.caption(tr("data.preview", n=len(frame)))
        data_table(frame.head(20), hide_index=True, width="stretch", key="data_preview")
        if preset:
            mapping = load_mapping(preset)
            missing = [r for r in REQUIRED_ROLES if mapping.columns[r] not in frame.columns]
        else:
            st.subheader(tr("data.columns_title"))
            st.caption(tr("data.columns_help"))
            columns = [None, *frame.columns]
            guesses = guess_columns(list(frame.columns))
            chosen = {}
            c = st.columns(4)
            for i, role in enumerate(DEFAULT_COLUMNS):
                chosen[role] = c[i % 4].selectbox(
                    tr(f"data.col_{role}") + (" *" if role in REQUIRED_ROLES else ""),
                    columns,
                    index=columns.index(guesses[role]),
                    key=f"data_col_{role}",
                    format_func=lambda v: tr("data.col_none") if v is None else str(v),
                )
            in_crs = st.selectbox(
                tr("report.crs"), CRS_NAMES, key="data_incident_crs", format_func=lambda v: tr(f"crs.{v}")
            )
            missing = [r for r in REQUIRED_ROLES if chosen[r] is None]
            mapping = Mapping(
                columns={k: (v if v is not None else f"__missing_{k}") for k, v in chosen.items()}, crs=in_crs
            )
        if missing:
            st.warning(tr("data.need_columns", roles="、".join(tr(f"data.col_{r}") for r in missing)))
        else:
            mapping = _label_mapping(frame, mapping)
        if st.button(tr("data.import"), key="data_import", type="primary", disabled=bool(missing)):
            bar = st.progress(0.0, text=tr("data.importing"))
            path = _saved(upload)
            try:
                report = import_incidents(
                    incident_service(),
                    who,
                    path,
                    mapping=mapping,
                    progress=lambda done, total: bar.progress(
                        done / max(total, 1), text=tr("data.progress", done=done, total=total)
                    ),
                )
            except IncidentImportError as exc:
                discard(path)
                st.error(error_text(exc))
            else:
                discard(path)
                bar.progress(1.0, text=tr("data.progress", done=report.accepted, total=report.total))
                st.success(
                    tr(
                        "data.imported",
                        accepted=report.accepted,
                        rejected=len(report.rejected),
                        skipped=report.skipped_existing,
                        dups=report.duplicates_flagged,
                    )
                )
                if report.rejected:
                    why = pd.Series([reason_text(r) for _, r, _ in report.rejected]).value_counts()
                    st.table(
                        pd.DataFrame({tr("data.reason"): why.index, tr("data.n"): why.to_numpy()}),
                        hide_index=True,
                    )
                    st.download_button(
                        tr("data.rejects"),
                        report.rejects_csv(reason_text, (tr("data.line"), tr("data.reason"))),
                        file_name=f"{Path(upload.name).stem}.rejects.csv",
                        mime="text/csv",
                        key="data_rejects_download",
                    )

with tab_export:
    fmt = st.selectbox(
        tr("data.format"),
        EXPORT_FORMATS,
        key="data_export_format",
        format_func=lambda f: tr(f"data.format_{f}"),
    )
    if st.button(tr("data.prepare_export"), key="data_export"):
        suffix = {"table": ".csv", "csv": ".csv", "geojson": ".geojson", "gpkg": ".gpkg", "open311": ".json"}[
            fmt
        ]
        with scratch_file(f"incidents{suffix}") as out:
            n = export_incidents(incident_service(), who, out, fmt, lang=lang())
            data = out.read_bytes()
        st.download_button(tr("data.download", n=n), data, file_name=out.name, key="data_export_download")
    st.caption(tr("data.counts", **{k: f"{v:,}" for k, v in views.area_counts().items()}))
    states = sorted(views.state_counts().items())
    st.table(
        pd.DataFrame(
            {tr("col.state"): [labels().state(s) for s, _ in states], tr("data.n"): [n for _, n in states]}
        ),
        hide_index=True,
    )
