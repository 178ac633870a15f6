"""The file name a shipment's download is given: `download_name`.

A shipment id may hold ``/``, ``:`` and ``#`` (`detectors.reading.SHIPMENT_ID_RE`), which as a
file name would put the file in another folder (``cargowatch report ACME/7`` writing into
``ACME/``), be refused on some systems, or, in a ``Content-Disposition`` header, be read as a
path by the client. Everything but letters, digits and ``.``, ``_``, ``-``, ``#`` becomes
``_``, so the name is one plain file name wherever it goes; the shipment's real id is inside the
file.
"""

from __future__ import annotations

import re
from typing import Final

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._#-]")


def download_name(shipment_id: str, suffix: str) -> str:
    """``{shipment_id}-{suffix}`` with every character a file name should not hold as ``_``.

    >>> download_name("SHP-0001", "report.pdf")
    'SHP-0001-report.pdf'
    >>> download_name("ACME/2026:#7", "evidence.zip")
    'ACME_2026_#7-evidence.zip'
    >>> download_name('x"\\r\\nSet-Cookie: a', "report.csv")
    'x___Set-Cookie__a-report.csv'
    """
    name = _UNSAFE.sub("_", f"{shipment_id}-{suffix}")
    # Never a hidden file or a name a shell reads as an option.
    return "_" + name[1:] if name.startswith((".", "-")) else name
