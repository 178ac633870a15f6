"""BulkClient without a broker: the paho internals it relies on are checked at import."""

import re

import paho.mqtt.client as mqtt
import pytest

from ingest.mqtt_client import PAHO_INTERNALS, SUPPORTED_PAHO, check_paho_internals

# ---------------------------------------------------------------------------------------------
# The import-time check of paho's internals


def test_the_installed_paho_has_every_internal_bulkclient_uses():
    check_paho_internals(mqtt.Client)
    assert set(PAHO_INTERNALS) == {
        "_sock_recv",
        "_sock_close",
        "_packet_read",
        "_handle_publish",
        "_packet_queue",
        "_loop_rc_handle",
        "loop_read",
        "_sock",
        "_in_packet",
    }


class _NoSockClose(mqtt.Client):
    _sock_close = None


class _PacketReadNotCallable(mqtt.Client):
    _packet_read = 42  # type: ignore[assignment]


class _PacketQueueReordered(mqtt.Client):
    def _packet_queue(self, command, mid, qos, packet, info=None):  # type: ignore[override]
        return super()._packet_queue(command, packet, mid, qos, info)


class _SockRecvRenamed(mqtt.Client):
    def _sock_recv(self, size):  # type: ignore[override]
        return b""


class _NoSockAttribute(mqtt.Client):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self._sock

    def __del__(self):
        pass  # paho's would close the _sock this class lacks


class _InPacketWithoutPacket(mqtt.Client):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._in_packet = {"command": 0}  # type: ignore[typeddict-item]


class _ClientWithItsOwnOnTelemetry(mqtt.Client):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.on_telemetry = None


class _ClientThatWillNotBuild(mqtt.Client):
    def __init__(self, *args, **kwargs):
        raise TypeError("new required argument")

    def __del__(self):
        pass  # paho's would close a _sock never set


@pytest.mark.parametrize(
    "doctored, problem",
    [
        pytest.param(_NoSockClose, "Client._sock_close is missing", id="a missing method is named"),
        pytest.param(
            _PacketReadNotCallable,
            "Client._packet_read is not callable",
            id="a method that became a plain value is named",
        ),
        pytest.param(
            _PacketQueueReordered,
            "Client._packet_queue takes (self, command, mid, qos, packet, info), not (self, command, packet, mid, qos, info)",
            id="reordered parameters of a called method are named",
        ),
        pytest.param(
            _SockRecvRenamed,
            "Client._sock_recv takes (self, size), not (self, bufsize)",
            id="a renamed parameter of an overridden method is named",
        ),
        pytest.param(
            _NoSockAttribute,
            "a new Client has no _sock attribute",
            id="a missing instance attribute is named",
        ),
        pytest.param(
            _InPacketWithoutPacket,
            "Client._in_packet is not a dict with keys ('command', 'packet')",
            id="an incoming packet without the keys the parser reads is named",
        ),
        pytest.param(
            _ClientWithItsOwnOnTelemetry,
            "Client has its own on_telemetry, which BulkClient would shadow",
            id="a paho attribute of the same name as one BulkClient adds is named",
        ),
        pytest.param(
            _ClientThatWillNotBuild,
            "Client(VERSION2, protocol=MQTTv5) fails: TypeError('new required argument')",
            id="a client that can no longer be built the way MqttSource builds it is named",
        ),
    ],
)
def test_a_paho_whose_internals_moved_fails_the_import_with_one_line_naming_the_internal(
    doctored, problem
):
    with pytest.raises(ImportError) as raised:
        check_paho_internals(doctored)
    message = str(raised.value)
    assert "\n" not in message
    assert re.fullmatch(
        rf"unsupported paho-mqtt [^ ]+: {re.escape(problem)}; "
        rf"ingest\.mqtt_client needs the internals of {re.escape(SUPPORTED_PAHO)}",
        message,
    ), message
