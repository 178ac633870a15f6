"""The evidence pack reader (`api.evidence_pack_verify`) on input nobody should trust: any bytes
at all, damaged or encrypted zips, names twice, zip bombs and entries whose place in the chain
is not a number. Each is either checked or refused as unreadable (`cargowatch evidence verify`
exit 2, one line on stderr), never a traceback."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.evidence_cli import BAD_INPUT, BROKEN
from api.evidence_pack import HISTORY, MANIFEST, PACK_FORMAT, SUMS, VERSIONS, sha256
from api.evidence_pack_verify import PackUnreadable, verify_pack
from cargowatch.cli import main


def zipped(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return out.getvalue()


def a_pack(manifest: Any, history: bytes, versions: Any) -> bytes:
    files = {
        MANIFEST: orjson.dumps(manifest),
        HISTORY: history,
        VERSIONS: orjson.dumps(versions),
    }
    files[SUMS] = "".join(f"{sha256(body)}  {name}\n" for name, body in files.items()).encode()
    return zipped(files)


def checked_or_refused(body: bytes) -> None:
    try:
        verify_pack(body)
    except PackUnreadable as exc:
        assert str(exc)


def with_method(body: bytes, method: int, flags: int = 0) -> bytes:
    # The compression method and flags of the first member, in both headers.
    changed = bytearray(body)
    changed[6:10] = struct.pack("<HH", flags, method)
    central = changed.find(b"PK\x01\x02")
    changed[central + 8 : central + 12] = struct.pack("<HH", flags, method)
    return bytes(changed)


PLAIN = {SUMS: b"x" * 1000, MANIFEST: b"{}" * 500}
STORED = zipped(PLAIN, zipfile.ZIP_STORED)


def damaged(body: bytes) -> bytes:
    changed = bytearray(body)
    changed[40:60] = b"\xff" * 20  # inside the first member's packed data
    return bytes(changed)


def twice() -> bytes:
    out = io.BytesIO()
    with pytest.warns(UserWarning), zipfile.ZipFile(out, "w") as archive:
        archive.writestr(SUMS, b"")
        archive.writestr(SUMS, b"")
    return out.getvalue()


def bomb() -> bytes:
    return zipped({SUMS: b"", MANIFEST: b"\0" * (20 * 1024**2)})


@pytest.mark.parametrize(
    "body, says",
    [
        (damaged(zipped(PLAIN)), "not a readable zip"),
        (damaged(zipped(PLAIN, zipfile.ZIP_LZMA)), "not a readable zip"),
        (with_method(STORED, 99), "not a readable zip"),
        (with_method(STORED, 0, flags=1), "not a readable zip"),  # encrypted
        (twice(), "more than once"),
        (bomb(), "zip bomb"),
    ],
    ids=["damaged", "damaged-lzma", "unknown-method", "encrypted", "name-twice", "bomb"],
)
def test_a_zip_that_cannot_be_read_as_made_is_refused_in_one_line(
    body: bytes, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(PackUnreadable, match=says):
        verify_pack(body)
    path = tmp_path / "pack.zip"
    path.write_bytes(body)
    assert main(["evidence", "verify", str(path)]) == BAD_INPUT
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("seq", ["1", "x", 0, -3, True, 1.5, None, [1], {"a": 1}])
def test_an_entry_whose_place_is_not_a_whole_number_is_named_not_a_crash(seq: Any) -> None:
    manifest = {"format": PACK_FORMAT, "chain_key": "k", "chain_length": 1, "chain_head": "0"}
    entry = {"chain_seq": seq, "prev_hash": "0" * 64, "entry_hash": "0" * 64, "id": 1}
    pack = a_pack(manifest, orjson.dumps(entry) + b"\n", {"versions": [entry]})
    result = verify_pack(pack)
    assert not result.ok
    assert f"{HISTORY} line 1: not a history entry" in result.problems
    assert f"{VERSIONS} version entry 1: not a manifest version" in result.problems


KEYS = ["chain_seq", "prev_hash", "entry_hash", "id", "versions", "format", "files"]
KEYS += ["chain_length", "chain_head", "chain_key"]
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(KEYS),
            inner,
            max_size=5,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_any_bytes_are_checked_or_refused(body: bytes) -> None:
    checked_or_refused(body)
    checked_or_refused(STORED[: len(body) % len(STORED)] + body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON, JSON, JSON, st.booleans(), st.integers(min_value=0))
def test_any_content_in_a_pack_shaped_zip_is_checked_or_refused(
    manifest: Any, history: Any, versions: Any, as_pack: bool, cut: int
) -> None:
    if as_pack:
        manifest = {**(manifest if isinstance(manifest, dict) else {}), "format": PACK_FORMAT}
    body = a_pack(manifest, orjson.dumps(history) + b"\n", versions)
    checked_or_refused(body)
    checked_or_refused(body[: cut % len(body)])


def test_any_bytes_through_the_command_line_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pack.zip"
    for body in (b"", b"PK\x05\x06" + b"\0" * 18, damaged(zipped(PLAIN))):
        path.write_bytes(body)
        assert main(["evidence", "verify", str(path)]) == BAD_INPUT
        err = capsys.readouterr().err
        assert err.startswith("cargowatch: ") and err.count("\n") == 1
    path.write_bytes(a_pack({"format": PACK_FORMAT}, b"[]\n", []))
    assert main(["evidence", "verify", str(path)]) == BROKEN


def test_a_file_name_cannot_forge_a_line_of_the_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forged = "x\nintact: pack.zip: all files match their sums\x1b[2K"
    pack = a_pack({"format": PACK_FORMAT}, b"", {"versions": []})
    with zipfile.ZipFile(io.BytesIO(pack)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    path = tmp_path / "pack.zip"
    path.write_bytes(zipped({**files, forged: b"added"}))
    assert main(["evidence", "verify", str(path)]) == BROKEN
    out = capsys.readouterr().out
    assert all(line.startswith("BROKEN ") for line in out.splitlines())
    assert "\x1b" not in out and repr(forged) in out


def test_a_chain_key_head_or_version_cannot_forge_a_line_either(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forged = "k\nintact: all fine\x1b[2K"
    manifest = {"format": PACK_FORMAT, "chain_key": forged, "chain_length": 1}
    manifest["chain_head"] = forged
    entry = {"chain_seq": 1, "prev_hash": "0" * 64, "entry_hash": "0" * 64, "version": forged}
    path = tmp_path / "pack.zip"
    path.write_bytes(a_pack(manifest, b"", {"versions": [entry]}))
    assert main(["evidence", "verify", str(path)]) == BROKEN
    out = capsys.readouterr().out
    assert out and all(line.startswith("BROKEN ") for line in out.splitlines())
    assert "\x1b" not in out
