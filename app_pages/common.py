"""What every page shares: the store, the language, the principal, cached area data."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import streamlit as st

from layers.assets import use_base_path
from layers.base import BASEMAP_KINDS, Basemap
from patrol.areas import AreaOverview, area_overview
from patrol.audit import AuditService
from patrol.catalog import Catalog
from patrol.district import areas_version
from patrol.evaluation import EvaluationService
from patrol.evidence import EvidenceService
from patrol.i18n import DEFAULT_LANG, Lang, t
from patrol.incidents import IncidentService, local_minutes
from patrol.inspections import InspectionService
from patrol.labels import Labels
from patrol.patrols import PatrolService
from patrol.permissions import AccessDeniedError, session_district
from patrol.reads import Reads
from patrol.roles import Principal
from patrol.tiles import TileInfo, TilePackageError, open_package, tile_route
from patrol.users import UserService
from store import Store, StoreError, open_store, resolve_url
from store.district_view import district_view

SESSION_DEFAULTS: dict[str, Any] = {
    "lang": DEFAULT_LANG,
    "principal": None,
    "incident_id": None,
}


def init_session() -> None:
    """Initialise the UI state, in this one place."""
    use_base_path(base_url_path())  # the maps' own scripts and styles live under it
    for key, value in SESSION_DEFAULTS.items():
        st.session_state.setdefault(key, value)


def lang() -> Lang:
    """The language chosen in this browser session."""
    value: Lang = st.session_state.get("lang", DEFAULT_LANG)
    return value


def tr(key: str, **values: object) -> str:
    """Translate a message key into the session's language."""
    return t(key, lang(), **values)


def principal() -> Principal | None:
    """The signed-in principal of this browser session, if any."""
    value: Principal | None = st.session_state.get("principal")
    return value


def max_upload_mb() -> int:
    """The largest upload accepted, in MB (GRIDPATROL_MAX_UPLOAD_MB, default 50)."""
    try:
        return max(1, int(os.environ.get("GRIDPATROL_MAX_UPLOAD_MB", "50")))
    except ValueError:
        return 50


def refuse_large_upload(upload: Any) -> bool:
    """Show the size refusal and return True if an upload is over the configured limit."""
    if upload is not None and upload.size > max_upload_mb() * 1024 * 1024:
        st.error(tr("data.too_large", mb=max_upload_mb()))
        return True
    return False


def uploader(label: str, types: list[str], key: str, *, mb: int | None = None, multiple: bool = False) -> Any:
    """A file uploader that says, in the user's language, which files it takes and up to what size.

    Streamlit's drop zone speaks English ("Drag and drop", "Browse files", "Limit 200MB"): its
    texts are replaced here by the label, the file types and the app's real limit.
    """
    limit = tr("upload.limit", types=" / ".join(t.upper() for t in types), mb=mb or max_upload_mb())
    st.html(
        "<style>[data-testid=stFileUploaderDropzoneInstructions]{display:none}"
        "[data-testid=stFileUploaderDropzone] [data-testid=stBaseButton-secondary]>div{display:none}"
        "[data-testid=stFileUploaderDropzone] [data-testid=stBaseButton-secondary]::after{font-size:.875rem;"
        f"content:'{tr('upload.browse')}'}}</style>"
    )
    return st.file_uploader(
        f"{label}（{limit}）", type=types, key=key, help=tr("upload.help"), accept_multiple_files=multiple
    )


def session_minutes() -> int:
    """Minutes of inactivity after which a session is signed out (GRIDPATROL_SESSION_MINUTES)."""
    try:
        return max(1, int(os.environ.get("GRIDPATROL_SESSION_MINUTES", "480")))
    except ValueError:
        return 480


def sign_out(reason: str | None = None) -> None:
    """Forget the signed-in user of this session (and say why on the sign-in page)."""
    for key in ("principal", "display_name", "last_active"):
        st.session_state.pop(key, None)
    st.session_state["principal"] = None
    if reason:
        st.session_state["sign_in_reason"] = reason


def touch_session(now: datetime) -> bool:
    """Record activity now; False (and sign out) if the session had expired."""
    last: datetime | None = st.session_state.get("last_active")
    if principal() is not None and last is not None and now - last > timedelta(minutes=session_minutes()):
        sign_out("sign_in.expired")
        return False
    st.session_state["last_active"] = now
    return True


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    store = open_store(url)
    store.migrate()
    return store


STORE_RETRIES = 5


@st.cache_resource(show_spinner=False)
def _district_store(url: str, code: str | None) -> Store:
    return district_view(_store(url), code)


def _url() -> str:
    try:
        url = resolve_url()
        _store(url)
    except StoreError as exc:
        store_unavailable(exc)
    return url


HELD_TTL_S = 5.0  # how long the list of districts is kept: a new district shows within seconds
_held: dict[str, tuple[float, list[tuple[str, str, str]]]] = {}


def _held_districts(url: str) -> list[tuple[str, str, str]]:
    """The store's districts (code, name, English name), read again after a few seconds.

    Every page helper asks which district the session works in (a page draws a hundred labels);
    one read per few seconds, not one per label.
    """
    now = time.monotonic()
    kept = _held.get(url)
    if kept is None or now - kept[0] > HELD_TTL_S:
        kept = (now, [(d.code, d.name, d.name_en) for d in _store(url).districts()])
        _held[url] = kept
    return kept[1]


def districts() -> list[tuple[str, str]]:
    """Every district the store holds: (code, name in the session's language), by code."""
    english = lang() == "en"
    return [
        (code, name_en.split(",")[0] if english and name_en else name)
        for code, name, name_en in _held_districts(_url())
    ]


def district_code(url: str | None = None) -> str | None:
    """The district this session works in (None: the store holds one, and the whole store is it).

    Chosen by the one district rule (``permissions.session_district``): a user kept to a
    district works in it; a city-wide user in the one picked in the sidebar.
    """
    held = [code for code, _, _ in _held_districts(url or _url())]
    try:
        return session_district(principal(), st.session_state.get("district"), held)
    except AccessDeniedError:
        st.session_state.pop("district", None)
        return session_district(principal(), None, held)


def _session() -> tuple[str, str | None]:
    """The store's URL and the district this session works in, found once."""
    url = _url()
    return url, district_code(url)


def get_store() -> Store:
    """The session's district of the process-wide store (opened once per URL, shared by all sessions).

    A banner and retries when the database is unreachable.
    """
    url, code = _session()
    try:
        return _district_store(url, code)
    except StoreError as exc:
        store_unavailable(exc)


def store_unavailable(exc: StoreError) -> NoReturn:
    """Show that the database is unreachable, and retry with exponential backoff.

    The script reruns after 1, 2, 4, 8, 16 s (times ``GRIDPATROL_RETRY_BASE_S``); then it waits
    for the user's retry button. Nothing is written meanwhile: each store call is one transaction.
    """
    attempt = int(st.session_state.get("store_retry", 0))
    st.error(tr("app.store_error", error=str(exc)))
    if attempt < STORE_RETRIES:
        try:
            base = float(os.environ.get("GRIDPATROL_RETRY_BASE_S", "1"))
        except ValueError:
            base = 1.0
        delay = base * 2**attempt
        st.session_state["store_retry"] = attempt + 1
        st.caption(tr("app.store_retrying", s=f"{delay:g}", n=attempt + 1, max=STORE_RETRIES))
        time.sleep(delay)
        st.rerun()
    st.caption(tr("app.store_gave_up", max=STORE_RETRIES))
    if st.button(tr("app.store_retry"), key="store_retry_button"):
        st.session_state["store_retry"] = 0
        st.rerun()
    st.stop()
    raise RuntimeError("unreachable")  # st.stop raises


def store_ok() -> None:
    """A page ran to the end: the store works again, so the next outage starts a fresh backoff."""
    st.session_state["store_retry"] = 0


@st.cache_data(show_spinner=False, ttl=300)
def area_data(store_url: str, district: str | None = None) -> AreaOverview:
    """District, townships, villages and teams, typed (cached per store and district)."""
    return area_overview(_district_store(store_url, district))


def township_names() -> dict[str, str]:
    """The session district's townships: code → name."""
    return {tw.code: tw.name for tw in area_data(*_session()).townships}


def require_district() -> AreaOverview:
    """Area data of the session's district, or stop with a hint when no district is loaded."""
    data = area_data(*_session())
    if data.district is None:
        st.info(tr("app.no_district"))
        st.stop()
    if data.district.is_demo:
        st.caption("⚠️ " + tr("app.demo_notice"))
    return data


def basemap_from_env() -> Basemap:
    """The basemap from ``GRIDPATROL_BASEMAP`` (none|offline|osm|amap|tianditu|custom).

    ``GRIDPATROL_TILES`` names an offline tile package (MBTiles file or z/x/y folder) the
    app serves itself; when it is set the default kind is ``offline``. ``GRIDPATROL_TILE_URL``
    gives the template of a custom (e.g. intranet) tile server, ``GRIDPATROL_TIANDITU_KEY``
    the Tianditu key, ``GRIDPATROL_TILES_CRS`` (wgs84|gcj02) the system an offline or custom
    package is drawn in. Without any of them: none, village outlines and names only.
    """
    tiles = os.environ.get("GRIDPATROL_TILES", "").strip()
    kind = os.environ.get("GRIDPATROL_BASEMAP", "offline" if tiles else "none").strip().lower() or "none"
    if kind not in BASEMAP_KINDS:
        st.warning(tr("app.basemap_unknown", kind=kind, kinds=" | ".join(BASEMAP_KINDS)))
        kind = "none"
    crs = os.environ.get("GRIDPATROL_TILES_CRS", "wgs84").strip().lower()
    if crs not in ("wgs84", "gcj02"):
        st.warning(tr("app.basemap_crs_unknown", crs=crs))
        crs = "wgs84"
    if kind == "offline":
        try:
            package = tile_package(tiles)
        except TilePackageError as exc:
            st.warning(tr("app.basemap_package_bad", error=str(exc)))
            return Basemap()
        if package is None:
            st.warning(tr("app.basemap_package_missing"))
            return Basemap()
        return Basemap(
            kind="offline",
            url=tile_route(base_url_path()),
            attribution=package.attribution or package.name,
            crs=crs,
            min_zoom=package.min_zoom,
            max_zoom=package.max_zoom,
        )
    return Basemap(
        kind=kind,  # type: ignore[arg-type]
        url=os.environ.get("GRIDPATROL_TILE_URL", ""),
        key=os.environ.get("GRIDPATROL_TIANDITU_KEY", ""),
        crs=crs if kind == "custom" else "wgs84",
    )


def tile_package(path: str) -> TileInfo | None:
    """What the offline package at ``path`` holds (None for an empty path)."""
    return open_package(path).info if path else None


MISSING = "—"  # how a missing value reads in every table (never "None")


def data_table(data: Any, *, where: Any = None, **options: Any) -> Any:
    """``st.dataframe`` (in ``where``, a container, if given) with missing values shown as a dash."""
    return (where or st).dataframe(data, placeholder=MISSING, **options)


def base_url_path() -> str:
    """The path the app is served under (``server.baseUrlPath``; empty at the root)."""
    return str(st.get_option("server.baseUrlPath") or "")


def now_utc() -> datetime:
    """The current time (UTC, tz-aware)."""
    return datetime.now(UTC)


@st.cache_resource(show_spinner=False)
def _incident_service(url: str, district: str | None, signature: Any) -> IncidentService:
    return IncidentService(_district_store(url, district))


@st.cache_resource(show_spinner=False)
def _patrol_service(url: str, district: str | None, signature: Any) -> PatrolService:
    return PatrolService(_district_store(url, district))


def incident_service() -> IncidentService:
    """The incident service of the session's district (rebuilt when the areas change)."""
    url, code = _session()
    return _incident_service(url, code, areas_version(_district_store(url, code)))


def evaluation_service() -> EvaluationService:
    """The published evaluations (月晾晒 and longer periods) of the store."""
    return EvaluationService(get_store())


def evidence_service() -> EvidenceService:
    """Evidence files (证据材料) of the incidents."""
    return EvidenceService(get_store(), incident_service())


def reads() -> Reads:
    """The read models of the pages (patrol.reads) on the store: a page never holds the store."""
    return Reads(get_store())


def city_reads() -> list[tuple[str, Reads]]:
    """Each district's name and read models, for a city-wide user of a store that holds several.

    Empty for anyone kept to a district, and for a store of one district.
    """
    who = principal()
    held = districts()
    if who is None or who.district_code is not None or len(held) < 2:
        return []
    url = _url()
    return [(name, Reads(_district_store(url, code))) for code, name in held]


def audit_service() -> AuditService:
    """The audit log (admins read and export it)."""
    return AuditService(get_store())


def inspection_service(catalog: Catalog) -> InspectionService:
    """Joint inspections (综合查一次): plan and merge."""
    return InspectionService(get_store(), catalog)


def user_service() -> UserService:
    """The user and sign-in service (its state lives in the store, shared by every process).

    On the whole store: users are the deployment's, whichever district the session shows.
    """
    return UserService(_store(_url()))


def client_address() -> str:
    """The browser's address as the server sees it (empty when unknown), for sign-in throttling."""
    try:
        return str(st.context.ip_address or "")
    except Exception:  # no browser (AppTest) or an older runtime
        return ""


_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def md_escape(text: object) -> str:
    """User text made inert for the elements that render Markdown (captions, messages, labels).

    Every Markdown and HTML special character gets a backslash, so a display name like
    ``![x](http://…)`` shows as written instead of fetching an image.
    """
    return _MARKDOWN_SPECIALS.sub(r"\\\1", str(text)).replace("\n", " ")


def report_unexpected(exc: Exception) -> str:
    """Log an unexpected error with its traceback under a short id; show the user the id only.

    With ``GRIDPATROL_RAISE_ERRORS=1`` (the test suite sets it) the error is raised again
    after that, so that a test sees the page fail.
    """
    import logging
    import uuid

    error_id = uuid.uuid4().hex[:8]
    logging.getLogger("gridpatrol").error(
        "error %s on page %s", error_id, exc.__class__.__name__, exc_info=exc
    )
    st.error(tr("app.unexpected", id=error_id))
    if os.environ.get("GRIDPATROL_RAISE_ERRORS") == "1":
        raise exc
    return error_id


def check_still_allowed() -> None:
    """Sign out a session whose user was disabled, or whose role or scope changed, since sign-in."""
    who = principal()
    if who is not None and user_service().current(who) is None:
        sign_out("sign_in.revoked")


def patrol_service() -> PatrolService:
    """The patrol service of this process (rebuilt when the areas change)."""
    url, code = _session()
    return _patrol_service(url, code, areas_version(_district_store(url, code)))


def require_principal() -> Principal:
    """The signed-in principal (the navigation shows pages only after sign-in)."""
    who = principal()
    if who is None:
        st.stop()
        raise RuntimeError("unreachable")
    return who


def require_analytics() -> Principal:
    """The signed-in principal, if the role reads district-wide analytics; else a refusal and stop."""
    from patrol.permissions import AccessDeniedError, check_analytics

    who = require_principal()
    try:
        check_analytics(who)
    except AccessDeniedError as exc:
        st.error(error_text(exc))
        st.stop()
    return who


def incident_buttons(rows: Any, key: str, flagged: dict[str, str] | None = None) -> None:
    """One full-width button per incident (number · item · state · time) that opens it.

    ``flagged`` maps an incident id to a warning shown on its button (e.g. past a time limit).
    """
    for inc in rows:
        flag = (flagged or {}).get(inc.id)
        st.button(
            f"{inc.number} · {item_name(inc.item_code)} · {state_name(inc.state)}"
            f" · {local_time(inc.reported_at)}" + (f" · ⚠ {flag}" if flag else ""),
            key=f"{key}_{inc.id}",
            on_click=open_incident,
            args=(inc.id,),
            width="stretch",
        )


def local_time(value: datetime | None) -> str:
    """A time as local (Beijing) minutes, or a dash."""
    return local_minutes(value)


def item_name(code: str) -> str:
    """The item's name in the session's language."""
    return labels().item(code)


def labels() -> Labels:
    """Names for codes in the session's language (teams, departments, townships, states, details)."""
    url, code = _session()
    return _labels(url, code, areas_version(_district_store(url, code)), lang())


@st.cache_resource(show_spinner=False, max_entries=8)
def _labels(url: str, district: str | None, areas: Any, language: Lang) -> Labels:
    return Labels.of(_incident_service(url, district, areas), language)


def state_name(state: str) -> str:
    """A workflow state in the session's language."""
    return labels().state(state)


def open_incident(incident_id: str) -> None:
    """Go to the incident page for one incident."""
    st.session_state["incident_id"] = incident_id
    st.switch_page("app_pages/incident.py")


WALL_CSS = Path(__file__).with_name("wall.css")


def wall_screen_css() -> None:
    """A wall screen: no sidebar or toolbar, dark, large tiles readable from five metres."""
    st.html(f"<style>{WALL_CSS.read_text(encoding='utf-8')}</style>")


def _keyed(key: str, values: dict[str, object]) -> str:
    """A refusal's message in the session's language, its ``field`` named in words too."""
    return tr(key, **{k: tr(f"field.{v}") if k == "field" else v for k, v in values.items()})


def reason_text(reason: str) -> str:
    """Why a row was refused, in the session's language (a plain string is shown as it is)."""
    from patrol.refusals import Reason

    return _keyed(reason.key, reason.values) if isinstance(reason, Reason) else reason


def error_text(exc: Exception) -> str:
    """A refusal from the services in the session's language (no mixed-language screens)."""
    from geo.boundaries import BoundaryError
    from geo.tracks import TrackError
    from patrol.incident import ConflictError, IllegalTransitionError, MissingFieldError
    from patrol.patrols import PatrolStateError
    from patrol.permissions import AccessDeniedError, OutOfScopeError
    from patrol.refusals import Refusal
    from patrol.routing import OutsideDistrictError

    if isinstance(exc, Refusal | BoundaryError | OutOfScopeError):
        return _keyed(exc.key, exc.values)
    if isinstance(exc, MissingFieldError):
        names = "、".join(tr(f"field.{f}") for f in exc.fields) or "—"
        return tr("err.missing", fields=names)
    for kind, key in (
        (ConflictError, "incident.conflict"),
        (IllegalTransitionError, "err.illegal"),
        (AccessDeniedError, "err.denied"),
        (OutsideDistrictError, "err.outside"),
        (PatrolStateError, "err.patrol_state"),
        (TrackError, "err.track"),
    ):
        if isinstance(exc, kind):
            return tr(key)
    if isinstance(exc, KeyError):
        return tr("err.not_found")
    return tr("err.invalid") if lang() == "zh" else f"{tr('err.invalid')}: {exc}"
