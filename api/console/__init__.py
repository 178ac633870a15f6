"""The operator console's files: static HTML pages, their scripts and stylesheets, and the
front-end libraries and base map vendored from npm (`api.console.vendor`).

`api.routes.console` serves them; nothing here runs on the server. `PAGES` holds one HTML page
per job (inbox, fleet map, shipment), `STATIC` what those pages load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

PAGES: Final = Path(__file__).resolve().parent / "pages"
STATIC: Final = Path(__file__).resolve().parent / "static"
