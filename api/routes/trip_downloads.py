"""What the routes that build a file from a whole trip share: InfluxDB, errors, file names.

The release report, the evidence pack and the EPCIS export each read the trip's readings from
InfluxDB and the shipment's rows from the SQL store, then answer a file. They fail the same
ways and must answer them the same way: no InfluxDB configured or InfluxDB away is a 503 to
retry (a file with the readings missing would be a record with a hole in it), a stored
manifest that no longer parses is a 409, a shipment gone between the visibility check and the
read is a 404. `trip_errors` maps those; `attachment` names the download. The readings
route answers InfluxDB away and a manifest that no longer parses the same way, through
`influx_unavailable` and `manifest_unusable`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from fastapi import HTTPException, Request, status

from api.download_names import download_name
from api.schemas import ErrorPublic
from detectors.profiles import ManifestError
from ingest.influx_client import InfluxClient, InfluxError

INFLUX_UNAVAILABLE: Final[dict[int | str, dict[str, object]]] = {
    503: {"model": ErrorPublic, "description": "InfluxDB is unavailable; retry later."}
}


def trip_influx(request: Request, without: str) -> InfluxClient:
    """The app's InfluxDB client, or a 503 saying what goes wrong `without` it."""
    client: InfluxClient | None = request.app.state.influx
    if client is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"no InfluxDB configured: {without}",
        )
    return client


@contextmanager
def trip_errors(
    shipment_id: str, without: str, not_found: tuple[type[Exception], ...] = ()
) -> Iterator[None]:
    """Turn what building a trip's file can raise into the API's answers.

    `without` says what goes wrong without InfluxDB ("the report cannot state the trip's
    readings"), for the 503.
    `not_found` names the builder's own "no such shipment" errors (never LookupError as a
    whole: a KeyError from a bug must stay a 500, not pass for a missing shipment).
    """
    try:
        yield
    except not_found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no shipment {shipment_id!r}") from None
    except ManifestError as exc:
        raise manifest_unusable(exc) from None
    except InfluxError as exc:
        raise influx_unavailable(f"InfluxDB unavailable, so {without}: {exc}") from None


def manifest_unusable(exc: ManifestError) -> HTTPException:
    """The 409 for a stored manifest that no longer parses."""
    # Saved by an older release with looser rules; there is nothing to read it by.
    return HTTPException(status.HTTP_409_CONFLICT, f"manifest unusable: {exc}")


def influx_unavailable(detail: str) -> HTTPException:
    """The 503 for InfluxDB away: worth retrying shortly."""
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail, headers={"Retry-After": "5"})


def attachment(shipment_id: str, suffix: str, *, inline: bool = False) -> dict[str, str]:
    """The ``Content-Disposition`` header of a trip's file, one plain file name whatever the id."""
    how = "inline" if inline else "attachment"
    return {"Content-Disposition": f'{how}; filename="{download_name(shipment_id, suffix)}"'}
