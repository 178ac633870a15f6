"""The disk spool: durable, ordered, bounded, and it survives a restart of the process."""

from ingest.spool import Spool


def test_batches_come_back_oldest_first_with_their_reading_counts(tmp_path):
    spool = Spool(tmp_path, max_bytes=10_000)
    assert spool.append(b"a 1", readings=1)
    assert spool.append(b"b 2\nc 3", readings=2)
    got = [(b.read(), b.readings) for b in spool.batches()]
    assert got == [(b"a 1", 1), (b"b 2\nc 3", 2)]
    assert len(spool) == 2 and spool.bytes_used == 10


def test_a_batch_that_would_pass_the_bound_is_refused_and_nothing_is_written(tmp_path):
    spool = Spool(tmp_path, max_bytes=10)
    assert spool.append(b"12345678", readings=1)
    assert not spool.append(b"123", readings=1)
    assert len(spool) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000000000000-1.lp"]


def test_removing_a_replayed_batch_frees_its_space(tmp_path):
    spool = Spool(tmp_path, max_bytes=10)
    spool.append(b"12345678", readings=1)
    spool.remove(next(spool.batches()))
    assert len(spool) == 0 and spool.bytes_used == 0
    assert spool.append(b"12345678", readings=1)


def test_a_new_process_finds_the_spool_and_continues_its_numbering(tmp_path):
    first = Spool(tmp_path, max_bytes=1000)
    first.append(b"one", readings=1)
    first.append(b"two", readings=1)
    (tmp_path / "000000000002-5.tmp").write_bytes(b"half written before a crash")
    second = Spool(tmp_path, max_bytes=1000)
    assert [b.read() for b in second.batches()] == [b"one", b"two"]
    assert second.bytes_used == 6
    second.append(b"three", readings=1)
    assert [b.read() for b in second.batches()] == [b"one", b"two", b"three"]
    assert not list(tmp_path.glob("*.tmp"))


def test_order_holds_past_ten_batches(tmp_path):
    spool = Spool(tmp_path, max_bytes=10_000)
    for i in range(12):
        spool.append(str(i).encode(), readings=1)
    assert [int(b.read()) for b in spool.batches()] == list(range(12))
