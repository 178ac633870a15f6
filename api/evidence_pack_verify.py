"""Checking an evidence pack offline (`api.evidence_pack`): `verify_pack`.

Two checks, both needed. The sums: every file's SHA-256 against ``SHA256SUMS`` and against
``manifest.json``, so a flipped byte anywhere names its file. The chain: the shipment's chain
recomputed from the pack's own ``history.jsonl`` and ``manifest_versions.json`` and compared
with the head ``manifest.json`` states, so an entry edited with its sums recomputed still names
its link. Whoever rewrites a whole pack consistently is stopped only by comparing the head hash
with one kept elsewhere (the report's pages, a copy sent at the time; docs/evidence.md).

Input that is not an evidence pack at all (not a zip, no ``SHA256SUMS`` or ``manifest.json``) is
`PackUnreadable`: bad input, not evidence of tampering.
"""

from __future__ import annotations

import io
import lzma
import re
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from api.evidence_pack import (
    HISTORY,
    LINK_FIELDS,
    MANIFEST,
    PACK_FORMAT,
    SUMS,
    VERSIONS,
    sha256,
)
from api.evidence_verify import Link, Verification, verify_links

_SUM_LINE: Final = re.compile(r"^([0-9a-f]{64})  (\S.*)$")
#: The most a pack may unpack to, all files together. A year of one reading a second is about
#: 6 GB of JSON Lines; a pack claiming more is refused before anything is unpacked.
MAX_UNPACKED_BYTES: Final = 8 * 1024**3
#: The most a file may unpack to per byte packed. JSON Lines deflate about 10 to 1 and a PDF
#: barely; a file of one repeated byte (a zip bomb) reaches 1000 to 1.
MAX_RATIO: Final = 200
#: Files smaller than this are not held to MAX_RATIO (an empty or tiny file's ratio means
#: nothing).
_RATIO_FLOOR: Final = 1024**2
# What the zip module raises on a damaged, encrypted or unsupported member.
_UNREADABLE: Final = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,
    RuntimeError,
    ValueError,
)


class PackUnreadable(ValueError):
    """Not an evidence pack this release can read; nothing about tampering can be said."""


@dataclass
class PackVerification:
    """What checking a pack found: broken files and the chain recomputed from it."""

    chain_key: str
    chain_head: str | None
    files: int = 0
    problems: list[str] = field(default_factory=list)
    chain: Verification = field(default_factory=Verification)
    #: Each link's hash and its place, to find a head kept elsewhere (``--expect-head``).
    places: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems and self.chain.ok


def verify_pack(pack: bytes | Path) -> PackVerification:
    """Check a pack's files against its sums and its chain against its stated head."""
    body = pack.read_bytes() if isinstance(pack, Path) else pack
    members = _members(body)
    for required in (SUMS, MANIFEST):
        if required not in members:
            raise PackUnreadable(f"no {required} in it: not an evidence pack")
    try:
        manifest = orjson.loads(members[MANIFEST])
    except orjson.JSONDecodeError:
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
        result = PackVerification(chain_key="", chain_head=None)
        result.problems.append(f"{MANIFEST}: not a {PACK_FORMAT} manifest (content changed?)")
        _check_sums(members, result)
        return result
    result = PackVerification(shown(manifest.get("chain_key")), manifest.get("chain_head"))
    _check_sums(members, result)
    stated = manifest.get("files")
    if isinstance(stated, dict):
        for name, digest in sorted(stated.items()):
            if name not in members:
                result.problems.append(f"{shown(name)}: listed in {MANIFEST} but not in the pack")
            elif sha256(members[name]) != digest:
                result.problems.append(
                    f"{shown(name)}: SHA-256 differs from {MANIFEST} (content changed)"
                )
    else:
        result.problems.append(f"{MANIFEST}: no file list")
    _check_chain(members, manifest, result)
    return result


def shown(name: object) -> str:
    """A file name from the pack as it may be printed: quoted when it holds anything but
    printable characters, so a name cannot forge a line of the report or drive the terminal.

    >>> shown("history.jsonl"), shown("x\\nintact: all fine")
    ('history.jsonl', "'x\\\\nintact: all fine'")
    """
    text = str(name)
    return text if text.isprintable() else repr(text)


def _members(body: bytes) -> dict[str, bytes]:
    """Every file of the zip by name; `PackUnreadable` for anything that is not a plain zip
    this release could have written (damaged, encrypted, a name twice, too big unpacked)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
        infos = archive.infolist()
        twice = sorted(name for name, n in Counter(i.filename for i in infos).items() if n > 1)
        if twice:
            # Which copy a tool shows is up to the tool: no sum can speak for such a pack.
            raise PackUnreadable(f"the zip holds {twice[0]!r} more than once: not a pack as made")
        unpacked = sum(info.file_size for info in infos)
        if unpacked > MAX_UNPACKED_BYTES:
            raise PackUnreadable(
                f"the zip unpacks to {unpacked:,} bytes, over the {MAX_UNPACKED_BYTES:,} a pack"
                " may hold"
            )
        for info in infos:
            if info.file_size > _RATIO_FLOOR and info.file_size > MAX_RATIO * info.compress_size:
                raise PackUnreadable(
                    f"{info.filename!r} unpacks {info.file_size // max(info.compress_size, 1):,}"
                    f" times larger than it is packed: not a pack as made (a zip bomb?)"
                )
        # Reads at most each member's stated size, so the limits above hold while unpacking.
        return {info.filename: archive.read(info) for info in infos}
    except PackUnreadable:
        raise
    except _UNREADABLE as exc:
        raise PackUnreadable(f"not a readable zip: {exc}") from None


def _check_sums(members: dict[str, bytes], result: PackVerification) -> None:
    listed: set[str] = set()
    for number, line in enumerate(members[SUMS].decode("utf-8", "replace").splitlines(), 1):
        match = _SUM_LINE.match(line)
        if match is None:
            result.problems.append(f"{SUMS} line {number}: not 'sha256  name' (content changed?)")
            continue
        digest, name = match.groups()
        listed.add(name)
        if name not in members:
            result.problems.append(
                f"{shown(name)}: listed in {SUMS} but not in the pack (file missing)"
            )
        elif sha256(members[name]) != digest:
            result.problems.append(f"{shown(name)}: SHA-256 differs from {SUMS} (content changed)")
    for name in sorted(set(members) - listed - {SUMS}):
        result.problems.append(f"{shown(name)}: in the pack but not in {SUMS} (file added)")
    result.files = len(members)


def _check_chain(
    members: dict[str, bytes], manifest: dict[str, Any], result: PackVerification
) -> None:
    links: list[Link] = []
    for number, line in enumerate(members.get(HISTORY, b"").splitlines(), 1):
        entry = _json(line)
        if not _placed(entry):
            result.problems.append(f"{HISTORY} line {number}: not a history entry")
            continue
        links.append(_link(entry, f"{HISTORY} line {number}"))
    versions = _json(members.get(VERSIONS, b"{}"))
    listed = versions.get("versions") if isinstance(versions, dict) else None
    if not isinstance(listed, list):
        result.problems.append(f"{VERSIONS}: no list of versions")
        listed = []
    for number, entry in enumerate(listed, 1):
        if not _placed(entry):
            result.problems.append(f"{VERSIONS} version entry {number}: not a manifest version")
            continue
        version = shown(entry.get("version"))
        links.append(_link(entry, f"{VERSIONS} entry {number} (version {version})"))
    length, head = manifest.get("chain_length"), manifest.get("chain_head")
    stated = (int(length), shown(head)) if isinstance(length, int) and length > 0 else None
    if stated is None and not links:
        return
    result.places = {str(link.entry_hash): int(link.record["chain_seq"]) for link in links}
    heads = {result.chain_key: stated} if stated else {}
    verify_links({result.chain_key: links}, heads, result.chain, head_source=MANIFEST)


def _placed(entry: Any) -> bool:
    # A link's place is a whole number from 1: anything else cannot be put in the chain's order.
    if not isinstance(entry, dict):
        return False
    seq = entry.get("chain_seq")
    return isinstance(seq, int) and not isinstance(seq, bool) and seq >= 1


def _json(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


def _link(entry: dict[str, Any], source: str) -> Link:
    record = {k: v for k, v in entry.items() if k not in LINK_FIELDS}
    return Link(record, entry.get("prev_hash"), entry.get("entry_hash"), source)
