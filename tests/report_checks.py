"""Reading a release report's PDF back in tests: its pages' text and the temperature plot's form."""

from __future__ import annotations

import io

from pypdf import PageObject, PdfReader
from pypdf.generic import DictionaryObject, StreamObject

from api.report_drawings import TEMPERATURE_FORM


def page_texts(pdf: bytes) -> tuple[PdfReader, list[str]]:
    """The document and each page's text with its whitespace collapsed to single spaces."""
    reader = PdfReader(io.BytesIO(pdf))
    return reader, [" ".join(page.extract_text().split()) for page in reader.pages]


def plot_form(page: PageObject) -> StreamObject | None:
    """The temperature plot's form XObject on `page`, if the page draws it."""
    resources = page["/Resources"].get_object()
    assert isinstance(resources, DictionaryObject)
    xobjects = resources.get("/XObject")
    if xobjects is None:
        return None
    form = xobjects.get_object().get(f"/FormXob.{TEMPERATURE_FORM}")
    if form is None:
        return None
    stream = form.get_object()
    assert isinstance(stream, StreamObject)
    return stream
