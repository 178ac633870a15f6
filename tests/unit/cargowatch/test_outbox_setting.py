"""``--outbox-deadline-s``: how long an alert entry InfluxDB refuses is retried before it is
dead-lettered; an hour unless set, and a bad value stops start-up in one line naming it."""

import pytest

from cargowatch.settings import SettingError, resolve


def test_the_outbox_deadline_is_an_hour_unless_set():
    assert resolve({}, env={}).outbox_deadline_s == 3600.0
    assert resolve({}, env={"CARGOWATCH_OUTBOX_DEADLINE_S": "600"}).outbox_deadline_s == 600.0
    flagged = resolve({"outbox_deadline_s": "90"}, env={"CARGOWATCH_OUTBOX_DEADLINE_S": "600"})
    assert flagged.outbox_deadline_s == 90.0


@pytest.mark.parametrize("value", ["soon", "0", "-5", str(31 * 86400)])
def test_a_bad_outbox_deadline_fails_with_one_line_naming_it(value):
    with pytest.raises(SettingError) as err:
        resolve({"outbox_deadline_s": value}, env={})
    shown = str(err.value)
    assert shown.startswith("--outbox-deadline-s / CARGOWATCH_OUTBOX_DEADLINE_S must be")
    assert repr(value) in shown and "\n" not in shown
