"""The operator console: its pages, their static files, and who the signed-in key is.

``/`` sends a browser to ``/console/``, the alert inbox; ``/console/map`` is the fleet map and
``/console/shipments/{shipment_id}`` a shipment's page. The pages are static HTML from
`api.console` that need no key to load: everything they show comes from the same JSON API any
client calls, with the key the person signed in with sent as ``Authorization: Bearer`` (see
docs/console.md), so the role checks are the API's, not the page's. ``GET /console/session``
tells a page which key it holds, so it offers only what that role may do. Every page and file
carries a Content-Security-Policy that allows scripts, styles and requests from this origin
only: no inline script, no CDN, no framing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Final

from fastapi import APIRouter, HTTPException, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel

from api.console import PAGES, STATIC
from api.deps import ACT_ON_ALERTS, MANAGE_SHIPMENTS, PrincipalDep
from api.schemas import SHIPMENT_ID_PATTERN
from detectors.alerts import KINDS, SEVERITIES
from detectors.profiles import PROFILES

router = APIRouter(include_in_schema=False)

#: Only this origin's scripts, styles, images and requests; nothing inline, no frames, no
#: plugins. uPlot and d3 set element styles from script (CSSOM), which style-src allows.
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'; object-src 'none'"
)
HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The pages change with a release; a stale one after an upgrade would talk to a newer API.
PAGE_HEADERS: Final = {**HEADERS, "Cache-Control": "no-cache"}
# Not "immutable": the file names carry no version, so a release must be able to replace them.
STATIC_HEADERS: Final = {**HEADERS, "Cache-Control": "public, max-age=3600"}


class ConsoleSession(BaseModel):
    """Who the console's key is, and what its role lets the page offer."""

    organisation: str
    role: str
    key_name: str
    key_prefix: str
    may_act_on_alerts: bool
    may_manage_shipments: bool
    kinds: list[str]
    severities: list[str]
    profile_ranges_c: dict[str, tuple[float, float] | None]


def _page(name: str) -> FileResponse:
    return FileResponse(PAGES / name, media_type="text/html", headers=PAGE_HEADERS)


@router.get("/")
def console_root() -> RedirectResponse:
    """Send a browser to the console."""
    return RedirectResponse("/console/", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/console")
def console_slash() -> RedirectResponse:
    """The inbox's address ends in a slash, so its relative links resolve under it."""
    return RedirectResponse("/console/", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/console/")
def console_inbox() -> FileResponse:
    """The alert inbox."""
    return _page("inbox.html")


@router.get("/console/map")
def console_map() -> FileResponse:
    """The fleet map."""
    return _page("map.html")


@router.get("/console/shipments/{shipment_id}")
def console_shipment(
    shipment_id: Annotated[str, PathParam(pattern=SHIPMENT_ID_PATTERN)],
) -> FileResponse:
    """A shipment's page; the script reads the id from the address."""
    return _page("shipment.html")


@router.get("/console/session")
def read_console_session(principal: PrincipalDep) -> ConsoleSession:
    """The signed-in key's organisation and role, and what the console may offer it."""
    return ConsoleSession(
        organisation=principal.organisation,
        role=principal.role,
        key_name=principal.key_name,
        key_prefix=principal.key_prefix,
        may_act_on_alerts=principal.role in ACT_ON_ALERTS,
        may_manage_shipments=principal.role in MANAGE_SHIPMENTS,
        kinds=list(KINDS),
        severities=list(SEVERITIES),
        # A manifest may leave its range to the profile; the chart draws the one in force.
        profile_ranges_c={name: p.temp_range_c for name, p in PROFILES.items()},
    )


#: What the console's own files are served as; anything else is not one of them.
MEDIA_TYPES: Final = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


@router.get("/console/static/{path:path}")
def console_static(path: str) -> FileResponse:
    """One of the console's scripts, stylesheets or map files (vendored libraries included)."""
    found = _static_file(path)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such console file")
    media_type = MEDIA_TYPES[found.suffix]
    return FileResponse(found, media_type=media_type, headers=STATIC_HEADERS)


def _static_file(path: str) -> Path | None:
    """The file `path` names under the static folder, or None; never a file outside it."""
    if not path or "\\" in path or "\x00" in path:
        return None
    candidate = (STATIC / path).resolve()
    if not candidate.is_relative_to(STATIC) or not candidate.is_file():
        return None
    return candidate if candidate.suffix in MEDIA_TYPES else None
