"""The disk spool: durable, verified, ordered, bounded; it survives a restart and a full disk."""

import errno
import logging
import os
import stat

import pytest

from ingest.spool import AppendStatus, Quarantined, Spool, encode_batch

TS = 1_700_000_000_000_000_000  # a plausible nanosecond timestamp


def size(body: bytes, readings: int = 1) -> int:
    """What one batch takes on disk, header included."""
    return len(encode_batch(body, readings))


def loaded(spool: Spool) -> list[list[str]]:
    return [spool.load(b) for b in spool.batches()]  # type: ignore[misc]


def files(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.is_file())


def quarantined(directory) -> list[str]:
    return sorted(p.name for p in (directory / "quarantine").iterdir())


def damaged_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "is damaged" in r.getMessage()]


# --- order, bound, restart ------------------------------------------------------------------


def test_batches_come_back_oldest_first_with_their_reading_counts(tmp_path):
    spool = Spool(tmp_path, max_bytes=10_000)
    assert spool.append(b"a 1", readings=1)
    assert spool.append(b"b 2\nc 3", readings=2)
    assert loaded(spool) == [["a 1"], ["b 2", "c 3"]]
    assert [b.readings for b in spool.batches()] == [1, 2]
    assert len(spool) == 2 and spool.bytes_used == size(b"a 1") + size(b"b 2\nc 3", 2)


def test_a_batch_file_carries_a_header_with_count_length_and_checksum(tmp_path):
    Spool(tmp_path, max_bytes=10_000).append(b"a 1\nb 2", readings=2)
    data = (tmp_path / "000000000000.lp").read_bytes()
    header, body = data.split(b"\n", 1)
    assert header == (
        b"CWSPOOL 2 readings=2 bytes=7 "
        b"sha256=4ef55c4d7168c5b14453c2bb63e3454be92d2faf69959a8ae5384deafb2dac4e"
    )
    assert body == b"a 1\nb 2"


def test_a_batch_that_would_pass_the_bound_is_refused_as_full_and_nothing_is_written(tmp_path):
    spool = Spool(tmp_path, max_bytes=size(b"12345678"))
    assert spool.append(b"12345678", readings=1)
    result = spool.append(b"123", readings=1)
    assert not result and result.status is AppendStatus.FULL
    assert len(spool) == 1
    assert files(tmp_path) == ["000000000000.lp"]


def test_removing_a_replayed_batch_frees_its_space(tmp_path):
    spool = Spool(tmp_path, max_bytes=size(b"12345678"))
    spool.append(b"12345678", readings=1)
    spool.remove(next(spool.batches()))
    assert len(spool) == 0 and spool.bytes_used == 0
    assert spool.append(b"12345678", readings=1)


def test_a_new_process_finds_the_spool_and_continues_its_numbering(tmp_path):
    first = Spool(tmp_path, max_bytes=1000)
    first.append(b"one", readings=1)
    first.append(b"two", readings=1)
    (tmp_path / "000000000002.tmp").write_bytes(b"half written before a crash")
    second = Spool(tmp_path, max_bytes=1000)
    assert loaded(second) == [["one"], ["two"]]
    assert second.bytes_used == size(b"one") + size(b"two")
    second.append(b"three", readings=1)
    assert loaded(second) == [["one"], ["two"], ["three"]]
    assert not list(tmp_path.glob("*.tmp"))


def test_order_holds_past_ten_batches(tmp_path):
    spool = Spool(tmp_path, max_bytes=10_000)
    for i in range(12):
        spool.append(str(i).encode(), readings=1)
    assert [int(lines[0]) for lines in loaded(spool)] == list(range(12))


def test_a_line_break_inside_a_string_field_stays_inside_its_point(tmp_path):
    spool = Spool(tmp_path, max_bytes=10_000)
    lines = [f'ingest_rejects,reason=invalid_json payload="{{\n\\"a\\": 1" {TS}', f"b x=1 {TS}"]
    spool.append("\n".join(lines).encode(), readings=0)
    assert loaded(spool) == [lines]


# --- writing the whole batch or nothing -----------------------------------------------------


def test_a_short_write_is_completed_not_stored_half(tmp_path, monkeypatch):
    real_write = os.write
    calls = []

    def half(fd, data):
        calls.append(len(data))
        return real_write(fd, bytes(data)[: max(1, len(data) // 2)])

    monkeypatch.setattr(os, "write", half)
    spool = Spool(tmp_path, max_bytes=10_000)
    body = "\n".join(f"m,k=v x={i} {TS + i}" for i in range(50)).encode()
    assert spool.append(body, readings=50)
    monkeypatch.undo()
    assert len(calls) > 1, "the write must have been short at least once"
    assert loaded(Spool(tmp_path, max_bytes=10_000)) == [body.decode().split("\n")]


def test_a_write_that_stores_nothing_is_a_disk_refusal_and_leaves_nothing(tmp_path, monkeypatch):
    spool = Spool(tmp_path, max_bytes=10_000)
    monkeypatch.setattr(os, "write", lambda fd, data: 0)
    result = spool.append(b"a 1", readings=1)
    assert not result and result.status is AppendStatus.DISK_REFUSED
    assert "write stored nothing" in result.detail
    assert files(tmp_path) == [] and len(spool) == 0 and spool.bytes_used == 0


def _failing(code: int):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return fail


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EIO], ids=errno.errorcode.get)
@pytest.mark.parametrize("step", ["write", "fsync", "rename", "open"])
def test_a_disk_error_at_any_step_is_reported_not_raised_and_leaves_no_file(
    tmp_path, monkeypatch, step, code
):
    spool = Spool(tmp_path, max_bytes=10_000)
    assert spool.append(b"before 1", readings=1)
    with monkeypatch.context() as patch:
        patch.setattr(os, step, _failing(code))
        result = spool.append(b"a 1", readings=1)
    assert not result and result.status is AppendStatus.DISK_REFUSED
    assert errno.errorcode[code] in result.detail
    assert files(tmp_path) == ["000000000000.lp"], "no temporary or partial file may be left"
    assert len(spool) == 1 and spool.bytes_used == size(b"before 1")
    assert spool.append(b"after 1", readings=1), "the spool works again once the disk does"
    assert loaded(spool) == [["before 1"], ["after 1"]]


def test_a_failed_directory_fsync_after_the_rename_takes_the_file_back(tmp_path, monkeypatch):
    spool = Spool(tmp_path, max_bytes=10_000)
    real_fsync = os.fsync

    def fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    result = spool.append(b"a 1", readings=1)
    assert result.status is AppendStatus.DISK_REFUSED
    assert files(tmp_path) == [] and len(spool) == 0


def test_a_file_that_reads_back_different_is_not_reported_stored(tmp_path, monkeypatch):
    real_write = os.write

    def corrupting(fd, data):  # the disk silently flips a bit of the body
        data = bytearray(data)
        data[-1] ^= 0x01
        return real_write(fd, data)

    spool = Spool(tmp_path, max_bytes=10_000)
    monkeypatch.setattr(os, "write", corrupting)
    result = spool.append(b"a 1", readings=1)
    assert result.status is AppendStatus.DISK_REFUSED
    assert "read back" in result.detail and "checksum mismatch" in result.detail
    assert files(tmp_path) == []


# --- damaged files are quarantined, the rest replays ----------------------------------------


def _spool_of_three(tmp_path) -> Spool:
    spool = Spool(tmp_path, max_bytes=10_000)
    spool.append(b"a 1", readings=1)
    spool.append(b"b 2\nc 3\nd 4", readings=3)
    spool.append(b"e 5", readings=1)
    return spool


def _damage_middle(tmp_path, damage) -> bytes:
    path = tmp_path / "000000000001.lp"
    path.write_bytes(damage(path.read_bytes()))
    return path.read_bytes()


def _flip(data: bytes) -> bytes:
    data = bytearray(data)
    data[-3] ^= 0x10
    return bytes(data)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: d[:-4], "truncated: 7 of 11 body bytes"),
        (_flip, "checksum mismatch"),
        (lambda d: d[:-4] + b"\xff\xfe\x00x", "checksum mismatch"),
        (lambda d: d + b"garbage", "7 unexpected bytes after the body"),
    ],
    ids=["truncated", "bit-flip", "invalid-utf8", "appended-garbage"],
)
@pytest.mark.parametrize("when", ["at-start-up", "on-replay"])
def test_a_damaged_file_is_quarantined_with_its_reason_and_count_and_the_rest_replays(
    tmp_path, caplog, damage, reason, when
):
    spool = _spool_of_three(tmp_path)
    if when == "at-start-up":
        bad = _damage_middle(tmp_path, damage)
        spool = Spool(tmp_path, max_bytes=10_000)
        assert spool.damaged_at_start == [Quarantined("000000000001.lp", reason, 3)]
        results = loaded(spool)
    else:
        batches = list(spool.batches())
        bad = _damage_middle(tmp_path, damage)
        results = [spool.load(b) for b in batches]
        assert results[1] == Quarantined("000000000001.lp", reason, 3)
        del results[1]
    assert results == [["a 1"], ["e 5"]]
    assert quarantined(tmp_path) == ["000000000001.lp"]
    assert (tmp_path / "quarantine" / "000000000001.lp").read_bytes() == bad, "kept as it was"
    assert len(spool) == 2 and spool.bytes_used == size(b"a 1") + size(b"e 5")
    [line] = damaged_lines(caplog)
    assert line == (
        f"spool file 000000000001.lp is damaged ({reason}); moved it to "
        f"{tmp_path / 'quarantine' / '000000000001.lp'}, readings lost: 3"
    )
    assert [r.levelno for r in caplog.records if "is damaged" in r.getMessage()] == [
        logging.WARNING
    ]


def test_a_valid_body_that_is_not_utf8_is_quarantined(tmp_path, caplog):
    (tmp_path / "000000000000.lp").write_bytes(encode_batch(b"m x=\xff\xfe 1", 4))
    spool = Spool(tmp_path, max_bytes=10_000)
    assert spool.damaged_at_start == [
        Quarantined("000000000000.lp", "not UTF-8 (at body byte 4)", 4)
    ]
    assert "readings lost: 4" in damaged_lines(caplog)[0]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "bad magic"),
        (b"telemetry x=1 1", "bad magic"),
        (b"CWSPOOL 2 readings=3 byt", "truncated in its header"),
        (b"CWSPOOL 2 readings=x bytes=1 sha256=00\nm", "damaged header"),
        (b"CWSPOOL 3 readings=3 bytes=1 sha256=00\nm", "unsupported format version 3"),
        (b"CWSPOOL 2 " + b"x" * 300, "damaged header"),
    ],
    ids=["empty", "no-header", "cut-header", "bad-header", "future-version", "no-newline"],
)
def test_a_file_whose_header_is_unreadable_is_quarantined_with_an_unknown_count(
    tmp_path, caplog, content, reason
):
    (tmp_path / "000000000000.lp").write_bytes(content)
    spool = Spool(tmp_path, max_bytes=10_000)
    assert spool.damaged_at_start == [Quarantined("000000000000.lp", reason, None)]
    assert damaged_lines(caplog)[0].endswith("readings lost: unknown")
    assert len(spool) == 0


def test_a_header_damaged_after_start_up_reports_the_count_the_spool_knew(tmp_path, caplog):
    spool = Spool(tmp_path, max_bytes=10_000)
    spool.append(b"a 1\nb 2", readings=2)
    [batch] = spool.batches()
    batch.path.write_bytes(b"\x00" * 40)
    assert spool.load(batch) == Quarantined("000000000000.lp", "bad magic", 2)


def test_quarantine_never_overwrites_an_earlier_quarantined_file(tmp_path):
    (tmp_path / "quarantine").mkdir()
    (tmp_path / "quarantine" / "000000000000.lp").write_bytes(b"older evidence")
    (tmp_path / "000000000000.lp").write_bytes(b"junk")
    Spool(tmp_path, max_bytes=10_000)
    assert quarantined(tmp_path) == ["000000000000.lp", "000000000000.lp.1"]
    assert (tmp_path / "quarantine" / "000000000000.lp").read_bytes() == b"older evidence"
    assert (tmp_path / "quarantine" / "000000000000.lp.1").read_bytes() == b"junk"


def test_quarantined_files_are_not_counted_or_renumbered_over(tmp_path):
    (tmp_path / "000000000007.lp").write_bytes(b"junk")
    spool = Spool(tmp_path, max_bytes=10_000)
    assert len(spool) == 0 and spool.bytes_used == 0
    spool.append(b"a 1", readings=1)
    assert files(tmp_path) == ["000000000008.lp"]


# --- files of the previous, headerless format -----------------------------------------------

LEGACY_LINES = [
    f"telemetry,device_id=trk-1 seq=1i,temp_c=4.5 {TS}",
    f'ingest_rejects,reason=invalid_json device_id="trk-2",payload="{{\n oops" {TS + 1}',
    f"telemetry,device_id=trk-1 seq=2i,temp_c=4.6 {TS + 1_000_000_000}",
]
LEGACY_BODY = "\n".join(LEGACY_LINES).encode()


def test_a_legacy_file_still_replays_after_an_upgrade(tmp_path):
    (tmp_path / "000000000004-2.lp").write_bytes(LEGACY_BODY)
    spool = Spool(tmp_path, max_bytes=10_000)
    assert spool.damaged_at_start == []
    [batch] = spool.batches()
    assert batch.readings == 2 and spool.bytes_used == len(LEGACY_BODY)
    assert spool.load(batch) == LEGACY_LINES
    spool.append(b"new 1", readings=1)
    assert files(tmp_path) == ["000000000004-2.lp", "000000000005.lp"]
    assert loaded(spool) == [LEGACY_LINES, ["new 1"]]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (LEGACY_BODY[:-12], "line 3 has a timestamp cut short (1700000)"),
        (LEGACY_BODY[:-20], "line 3 does not end in a timestamp"),
        (
            LEGACY_BODY[: LEGACY_BODY.index(b"oops")],
            "cut short inside a quoted string or an escape",
        ),
        (LEGACY_BODY.rsplit(b"\n", 1)[0], "1 telemetry lines where its name says 2"),
        (LEGACY_BODY + b"\n", "line 4 does not end in a timestamp"),
        (LEGACY_BODY[:10] + b"\xc3\x28" + LEGACY_BODY[12:], "not UTF-8 (at byte 10)"),
        (b"", "line 1 does not end in a timestamp"),
    ],
    ids=["cut-timestamp", "cut-line", "cut-string", "lost-line", "blank-line", "bad-utf8", "empty"],
)
def test_a_damaged_legacy_file_is_quarantined_not_stored_at_the_server_time(
    tmp_path, caplog, content, reason
):
    (tmp_path / "000000000004-2.lp").write_bytes(content)
    spool = Spool(tmp_path, max_bytes=10_000)
    assert spool.damaged_at_start == [Quarantined("000000000004-2.lp", reason, 2)]
    assert damaged_lines(caplog)[0].endswith("readings lost: 2")
    assert quarantined(tmp_path) == ["000000000004-2.lp"]
