"""Evidence (证据材料): photos and scans kept with an incident at each stage of the loop.

A file is accepted by what it is, not by what it is called: its first bytes must be those of
a JPEG, PNG or WebP image or a PDF, and a picture must decode to its end (a photo cut off in
transfer is refused at once, not found unreadable later); it may be at most :data:`MAX_BYTES`.
It is kept in the store (so a backup or a copy-store carries it), once per content, with who
gave it, when, at which stage and why; nothing is ever changed or removed. Who may read the incident may read
its evidence; who works on the incident may add to it.

Location policy: a photo is kept byte for byte as it was given (its SHA-256 is the evidence's
fingerprint, so nothing is stripped or rewritten). Where the camera wrote the place it was taken
(EXIF GPS), :func:`photo_place` reads it and the incident page shows how far from the incident's
point the photo was taken, so a picture from elsewhere is noticed; the place is shown only to
those who may read the incident, like the photo itself.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any

from PIL import Image

from geo.crs import geodesic_m
from patrol.audit import audit_row
from patrol.incident import Incident
from patrol.incidents import IncidentService
from patrol.permissions import check_attach
from patrol.plausibility import check_text
from patrol.refusals import Refusal
from patrol.roles import Principal
from store.protocol import Store
from store.rows import EvidenceRow


@dataclass(frozen=True)
class PhotoPlace:
    """Where a photo says it was taken (WGS84, as GPS receivers give it) and its distance to the incident."""

    lat: float
    lng: float
    distance_m: float


def photo_place(data: bytes) -> tuple[float, float] | None:
    """The latitude and longitude a photo's EXIF GPS block records, or None (none, or unreadable)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            gps = img.getexif().get_ifd(0x8825)  # GPSInfo
    except Exception:  # any broken metadata means: no known place
        return None
    try:
        lat = _degrees(gps[2], gps.get(1, "N"), "S")
        lng = _degrees(gps[4], gps.get(3, "E"), "W")
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or (lat == 0 and lng == 0):
        return None
    return lat, lng


def _degrees(dms: Any, ref: Any, negative: str) -> float:
    d, m, sec = (float(x) for x in dms)
    value = d + m / 60 + sec / 3600
    ref = ref.decode() if isinstance(ref, bytes) else str(ref)
    return -value if ref.strip().upper() == negative else value


MAX_BYTES = 10 * 1024 * 1024
MAX_PER_INCIDENT = 50
# report: at the scene when reported; handling: of the result (整改前后); verification: the
# check on site; callback: a recording or note of the callback; other: anything else
STAGES = ("report", "handling", "verification", "callback", "other")
_SIGNATURES: tuple[tuple[str, bytes, int], ...] = (
    ("image/jpeg", b"\xff\xd8\xff", 0),
    ("image/png", b"\x89PNG\r\n\x1a\n", 0),
    ("image/webp", b"WEBP", 8),
    ("application/pdf", b"%PDF-", 0),
)
EXTENSIONS = ("jpg", "jpeg", "png", "webp", "pdf")


def sniff(data: bytes) -> str | None:
    """The content type the first bytes show, or None for anything not accepted."""
    for content_type, magic, offset in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic and (offset == 0 or data[:4] == b"RIFF"):
            return content_type
    return None


# the stage a new file most likely belongs to, by the incident's state
_STAGE_OF_STATE = {
    "discovered": "report", "assessing": "report", "verifying": "verification", "closed": "callback",
}  # fmt: skip


def default_stage(state: str) -> str:
    """The stage to offer first for a file added to an incident in ``state``."""
    return _STAGE_OF_STATE.get(state, "handling")


def decodes(data: bytes) -> bool:
    """Whether an image's bytes are a whole, readable picture (Pillow reads it to the end)."""
    try:
        with Image.open(io.BytesIO(data)) as picture:
            picture.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False
    return True


def is_image(row: EvidenceRow) -> bool:
    """Whether the evidence is a picture (shown) rather than a document (downloaded)."""
    return row.content_type.startswith("image/")


class EvidenceService:
    """Add, list and read evidence, as one principal or another."""

    def __init__(
        self, store: Store, incidents: IncidentService, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.incidents = incidents
        self._store = store
        self.clock = clock or incidents.clock

    def add(
        self,
        who: Principal,
        incident_id: str,
        filename: str,
        data: bytes,
        *,
        stage: str = "other",
        note: str = "",
    ) -> EvidenceRow:
        """Keep a file as evidence of an incident.

        Raises
        ------
        Refusal
            For an unknown stage, an empty, too large or unrecognised file, or too many files.
        AccessDeniedError
            If ``who`` may not add evidence to the incident.
        """
        inc = self.incidents.get(who, incident_id)
        check_attach(who, inc)
        if stage not in STAGES:
            msg = f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}"
            raise Refusal(msg, "refuse.evidence_stage")
        check_text("note", note)
        name = PurePath(filename.replace("\\", "/")).name.strip()[:120] or "evidence"
        check_text("filename", name)
        if not data:
            msg = f"{name} is empty"
            raise Refusal(msg, "refuse.evidence_empty", name=name)
        if len(data) > MAX_BYTES:
            mb = MAX_BYTES // (1024 * 1024)
            msg = f"{name} is {len(data) / 1024 / 1024:.1f} MB; evidence files are at most {mb} MB"
            raise Refusal(msg, "refuse.evidence_size", name=name, mb=mb)
        content_type = sniff(data)
        if content_type is None:
            msg = f"{name} is not a JPEG, PNG or WebP photo or a PDF (judged by its content, not its name)"
            raise Refusal(msg, "refuse.evidence_type", name=name)
        if content_type.startswith("image/") and not decodes(data):
            msg = f"{name} looks like a photo but cannot be read (damaged or cut off in transfer)"
            raise Refusal(msg, "refuse.evidence_corrupt", name=name)
        if len(self._store.evidence_of([inc.id])) >= MAX_PER_INCIDENT:
            msg = f"{inc.number} has {MAX_PER_INCIDENT} evidence files already"
            raise Refusal(msg, "refuse.evidence_many", n=MAX_PER_INCIDENT)
        now = self.clock()
        row = EvidenceRow(
            secrets.token_hex(8), inc.id, stage, name, content_type, len(data),
            hashlib.sha256(data).hexdigest(), who.name, who.role, now, note,
        )  # fmt: skip
        after = {"id": row.id, "file": name, "stage": stage, "size": len(data), "sha256": row.sha256}
        self._store.add_evidence(
            row, data, audit_row(who, now, "attach_evidence", "incident", inc.id, None, after)
        )
        return row

    def of(self, who: Principal, incident_id: str) -> list[EvidenceRow]:
        """The evidence of an incident ``who`` may see, oldest first."""
        inc = self.incidents.get(who, incident_id)
        return self._store.evidence_of([inc.id])

    def read(self, who: Principal, evidence_id: str) -> tuple[EvidenceRow, bytes]:
        """One evidence file and its bytes, if ``who`` may see its incident.

        Raises
        ------
        KeyError
            For an unknown id (or one whose content is missing).
        AccessDeniedError
            If ``who`` may not see the incident.
        """
        row = self._store.evidence_row(evidence_id)
        if row is None:
            msg = f"no evidence {evidence_id!r}"
            raise KeyError(msg)
        self.incidents.get(who, row.incident_id)
        data = self._store.evidence_content(row.sha256)
        if data is None:
            msg = f"the content of evidence {evidence_id!r} is missing"
            raise KeyError(msg)
        return row, data

    def place(self, who: Principal, row: EvidenceRow, data: bytes) -> PhotoPlace | None:
        """Where a photo was taken (its EXIF GPS) and how far from its incident's point.

        ``row`` with its bytes ``data``; None if the photo records no place. ``who`` must be
        allowed to see the incident (AccessDeniedError otherwise).
        """
        point = photo_place(data) if is_image(row) else None
        if point is None:
            return None
        inc = self.incidents.get(who, row.incident_id)
        metres = float(geodesic_m(point[0], point[1], inc.lat, inc.lng))
        return PhotoPlace(point[0], point[1], metres)

    def may_add(self, who: Principal, inc: Incident) -> bool:
        """Whether ``who`` may add evidence to the incident (a page shows the uploader or not)."""
        try:
            check_attach(who, inc)
        except PermissionError:
            return False
        return True
