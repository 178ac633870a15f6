"""The expander turns dashboard queries into what Grafana 11's InfluxDB data source sends."""

import pytest

from dashboards.queries import ALL, DashboardQuery, Expander, Variable, interval_ms

DAY = 86_400_000


def expand(text, variables=None, span=DAY, max_points=None, min_interval=None):
    e = Expander(1_000_000, 1_000_000 + span, variables or {})
    return e.expand(
        DashboardQuery(
            "d", "panel", "p", "A", text, max_data_points=max_points, min_interval=min_interval
        )
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param(
            "WHERE $timeFilter",
            "WHERE time >= 1000000ms and time <= 87400000ms",
            id="$timeFilter is the absolute range in ms, both ends included",
        ),
        pytest.param("time($__interval)", "time(1m)", id="a day over 1000 points is rounded to 1m"),
        pytest.param("time($interval)", "time(1m)", id="$interval is the same interval"),
        pytest.param("$__interval_ms", "60000", id="$__interval_ms is the interval in ms"),
    ],
)
def test_macros(text, expected):
    assert expand(text) == expected


def test_the_interval_is_never_below_the_min_interval():
    assert expand("$__interval", span=60_000) == "10s"  # the data source's 10s
    assert expand("$__interval", span=60_000, min_interval="1m") == "1m"


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("SHP-1", "/^SHP-1$/", id="one value is used as it is"),
        pytest.param("trk.1", r"/^trk\.1$/", id="regex characters in a value are escaped"),
        pytest.param(["a", "b.c"], r"/^(a|b\.c)$/", id="several values become an alternation"),
        pytest.param(ALL, "/^(x|y)$/", id="All is every option"),
    ],
)
def test_regex_format(value, expected):
    variables = {"v": Variable(value, options=["x", "y"])}
    assert expand("/^${v:regex}$/", variables) == expected
    assert expand("/^$v$/", variables) == expected  # regex is InfluxQL's default format


def test_a_custom_all_value_is_used_unformatted():
    assert expand("/^$v$/", {"v": Variable(ALL, ["x"], all_value=".*")}) == "/^.*$/"


def test_raw_format_and_unknown_names():
    variables = {"p": Variable("vaccine_2_8")}
    assert expand('AS "${p:raw} min", $unknown', variables) == 'AS "vaccine_2_8 min", $unknown'


@pytest.mark.parametrize(
    "span, points, expected",
    [
        (3_600_000, 1000, 5_000),
        (7 * DAY, 1000, 600_000),
        (7 * DAY, 100, 7_200_000),
        (500, 1000, 10),
    ],
)
def test_interval_rounding_follows_grafanas_table(span, points, expected):
    assert interval_ms(span, points, None) == expected
