"""One incident's file (案卷) as a ZIP: what it is, what happened, each stage's clock, and its evidence.

What a person forwards or archives when a case is reviewed: readable tables in the reader's
language (CSV, UTF-8 with BOM so Excel opens Chinese correctly) and the evidence files as they
were given, each listed with its SHA-256 so the copy can be checked against the store. Only what
``who`` may see goes in (reporters masked as on screen), and the export is audited.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePath

import pandas as pd

from patrol.evidence import EvidenceService
from patrol.exporter import readable_table
from patrol.i18n import Lang
from patrol.incident_repository import to_row
from patrol.incidents import local_minutes
from patrol.labels import Labels
from patrol.roles import Principal


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8-sig")


def incident_dossier(evidence: EvidenceService, who: Principal, incident_id: str, lang: Lang = "zh") -> bytes:
    """The incident's file as ZIP bytes: incident.csv, timeline.csv, stages.csv, evidence.csv, evidence/.

    Raises
    ------
    KeyError, AccessDeniedError
        For an unknown incident, or one ``who`` may not see.
    """
    svc = evidence.incidents
    inc = svc.get(who, incident_id)
    names = Labels.of(svc, lang)
    now = svc.clock()
    tr = names.tr
    events = svc.timeline(who, inc.id)
    timeline = pd.DataFrame(
        {
            "#": [e.seq for e in events],
            tr("col.time"): [local_minutes(e.at) for e in events],
            tr("incident.action"): [tr(f"action.{e.action.value}") for e in events],
            tr("incident.to_state"): [names.state(e.to_state.value) for e in events],
            tr("incident.actor"): [e.actor for e in events],
            tr("field.role"): [names.role(e.role) for e in events],
            tr("incident.note"): [e.note for e in events],
            tr("incident.details"): [names.details(e.payload) for e in events],
        }
    )
    clocks = svc.stage_clocks(who, inc)
    stages = pd.DataFrame(
        {
            tr("incident.stage"): [tr(f"stage.{c.stage}") for c in clocks],
            tr("stage.started"): [local_minutes(c.started) for c in clocks],
            tr("stage.due"): [local_minutes(c.due) for c in clocks],
            tr("stage.ended"): [local_minutes(c.ended) if c.ended else "" for c in clocks],
            tr("stage.late_hours"): [round(c.late_by(now).total_seconds() / 3600, 1) for c in clocks],
        }
    )
    files = evidence.of(who, inc.id)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("incident.csv", _csv(readable_table([to_row(inc, now)], names)))
        z.writestr("timeline.csv", _csv(timeline))
        z.writestr("stages.csv", _csv(stages))
        listed = []
        for k, row in enumerate(files, start=1):
            _, data = evidence.read(who, row.id)
            path = f"evidence/{k:02d}_{row.stage}_{PurePath(row.filename).name}"
            z.writestr(path, data)
            listed.append((path, tr(f"evidence.stage_{row.stage}"), row.uploaded_by, local_minutes(row.at),
                           row.note, row.size, row.sha256))  # fmt: skip
        z.writestr(
            "evidence.csv",
            _csv(
                pd.DataFrame(
                    listed,
                    columns=[
                        tr("dossier.file"),
                        tr("evidence.stage"),
                        tr("incident.actor"),
                        tr("col.time"),
                        tr("incident.note"),
                        tr("dossier.bytes"),
                        "SHA-256",
                    ],
                )
            ),
        )
    svc.audit.record(
        who, "export_dossier", "incident", inc.id, None, {"number": inc.number, "evidence": len(files)}
    )
    return buf.getvalue()
