"""InfluxQL query and annotation models for grafana-foundation-sdk, which ships none for InfluxDB.

The SDK has typed query builders for Prometheus, Loki, Elasticsearch and others but not for
Grafana's InfluxDB data source, and its `AnnotationQuery` model drops the fields an InfluxQL
annotation needs (`query`, `titleColumn`, `textColumn`, `tagsColumn`). `InfluxQuery` is the
target shape Grafana's InfluxDB plugin saves for a raw InfluxQL query, registered with the
SDK's runtime so `Dashboard.from_json` decodes targets into it; `InfluxAnnotation` extends the
SDK's annotation model the same way. `dashboard_from_json` is the SDK's own decoder plus that
one extension, so a built dashboard round-trips through the library's models.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard

PLUGIN_ID = "influxdb"

ResultFormat = Literal["time_series", "table", "logs"]


class InfluxQuery(cogvariants.Dataquery):
    """One raw InfluxQL target of a panel, as Grafana's InfluxDB plugin stores it."""

    def __init__(
        self,
        ref_id: str = "A",
        query: str = "",
        result_format: ResultFormat = "time_series",
        alias: str | None = None,
        datasource: dashboard.DataSourceRef | None = None,
        hide: bool | None = None,
    ) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias
        self.datasource = datasource
        self.hide = hide

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "refId": self.ref_id,
            "query": self.query,
            "rawQuery": True,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            out["alias"] = self.alias
        if self.datasource is not None:
            out["datasource"] = self.datasource
        if self.hide is not None:
            out["hide"] = self.hide
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        ds = data.get("datasource")
        return cls(
            ref_id=data.get("refId", "A"),
            query=data.get("query", ""),
            result_format=data.get("resultFormat", "time_series"),
            alias=data.get("alias"),
            datasource=dashboard.DataSourceRef.from_json(ds) if isinstance(ds, dict) else None,
            hide=data.get("hide"),
        )


class InfluxQueryBuilder(cogbuilder.Builder[cogvariants.Dataquery]):
    """Builds an `InfluxQuery`, in the SDK's builder style."""

    def __init__(self, query: str, ref_id: str = "A") -> None:
        self._internal = InfluxQuery(ref_id=ref_id, query=query)

    def build(self) -> InfluxQuery:
        return self._internal

    def format(self, result_format: ResultFormat) -> Self:
        self._internal.result_format = result_format
        return self

    def alias(self, alias: str) -> Self:
        self._internal.alias = alias
        return self

    def datasource(self, ref: dashboard.DataSourceRef) -> Self:
        self._internal.datasource = ref
        return self


class InfluxAnnotation(dashboard.AnnotationQuery):
    """An InfluxQL annotation: its query and which result columns become title, text, tags and
    the end time (an annotation with an end is drawn as a region)."""

    def __init__(
        self,
        query: str = "",
        title_column: str | None = None,
        text_column: str | None = None,
        tags_column: str | None = None,
        time_end_column: str | None = None,
        **base: Any,
    ) -> None:
        super().__init__(**base)
        self.query = query
        self.title_column = title_column
        self.text_column = text_column
        self.tags_column = tags_column
        self.time_end_column = time_end_column

    def to_json(self) -> dict[str, object]:
        out = super().to_json()
        out["query"] = self.query
        for key, value in (
            ("titleColumn", self.title_column),
            ("textColumn", self.text_column),
            ("tagsColumn", self.tags_column),
            ("timeEndColumn", self.time_end_column),
        ):
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        base = dashboard.AnnotationQuery.from_json(data)
        return cls(
            query=data.get("query", ""),
            title_column=data.get("titleColumn"),
            text_column=data.get("textColumn"),
            tags_column=data.get("tagsColumn"),
            time_end_column=data.get("timeEndColumn"),
            **vars(base),
        )


class InfluxAnnotationBuilder(cogbuilder.Builder[dashboard.AnnotationQuery]):
    """Builds an `InfluxAnnotation`."""

    def __init__(self, name: str, query: str, datasource: dashboard.DataSourceRef) -> None:
        self._internal = InfluxAnnotation(
            query=query, name=name, datasource=datasource, enable=True, icon_color="red"
        )

    def build(self) -> InfluxAnnotation:
        return self._internal

    def columns(self, title: str | None, text: str, tags: str) -> Self:
        self._internal.title_column = title
        self._internal.text_column = text
        self._internal.tags_column = tags
        return self

    def time_end(self, column: str) -> Self:
        """The column holding each annotation's end, in epoch milliseconds."""
        self._internal.time_end_column = column
        return self

    def icon_color(self, color: str) -> Self:
        self._internal.icon_color = color
        return self


def register() -> None:
    """Teach the SDK's decoder that targets of an `influxdb` data source are `InfluxQuery`."""
    cogruntime.Runtime().register_dataquery_variant(
        cogruntime.DataqueryConfig(identifier=PLUGIN_ID, from_json_hook=InfluxQuery.from_json)
    )


def dashboard_from_json(data: dict[str, Any]) -> dashboard.Dashboard:
    """The SDK's `Dashboard.from_json`, keeping the InfluxQL fields of annotations."""
    register()
    board = dashboard.Dashboard.from_json(data)
    raw = data.get("annotations", {}).get("list", [])
    if board.annotations.list_val is not None:
        board.annotations.list_val = [
            InfluxAnnotation.from_json(item)
            if (item.get("datasource") or {}).get("type") == PLUGIN_ID
            else decoded
            for item, decoded in zip(raw, board.annotations.list_val, strict=True)
        ]
    return board
