"""Servers the tests restart get ports the kernel never gives outgoing connections.

An outage a test stages stops a server and starts it again on the same port. A port inside
the ephemeral range may meanwhile be some client's source port, or the source port of the
very client retrying to reach it (a TCP connection to itself), and the restart then fails
with "address already in use".
"""

import socket
from pathlib import Path

from ingest.local_servers import ephemeral_ports, free_port


def test_free_ports_lie_outside_the_ephemeral_range_and_can_be_bound() -> None:
    low, high = ephemeral_ports()
    for _ in range(50):
        port = free_port()
        assert 1024 <= port <= 65_535 and not low <= port <= high
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_the_ephemeral_range_is_read_from_the_kernel_or_taken_as_linuxs_default(
    tmp_path: Path,
) -> None:
    range_file = tmp_path / "ip_local_port_range"
    range_file.write_text("20000\t40000\n")
    assert ephemeral_ports(range_file) == (20_000, 40_000)
    range_file.write_text("not numbers\n")
    assert ephemeral_ports(range_file) == (32_768, 60_999)
    assert ephemeral_ports(tmp_path / "missing") == (32_768, 60_999)
