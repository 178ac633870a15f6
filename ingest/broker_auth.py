"""Broker credentials and access control: mosquitto password-file entries and the ACL file.

Every MQTT client of the CargoWatch broker logs in with its own user: a tracker's user name
is its device id, and four roles (`Role`) decide what a user may publish and read. This
module writes the two files mosquitto checks them against, in mosquitto's own formats: the
password file, one ``user:$7$iterations$salt$hash`` line per user (PBKDF2-HMAC-SHA512, as
``mosquitto_passwd`` writes it, without shelling out to it), and the ACL file, rendered from
the packaged template ``ingest/mosquitto/acl`` with one block per non-device user. Files are
replaced atomically (temporary file, fsync, rename) with mode 0600 under a lock, so a broker
reloading on SIGHUP, or a second operator adding a user at the same moment, never sees or
causes half a file. Errors are `BrokerAuthError`, whose message is one line for the operator.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import hmac
import os
import re
import secrets
import signal
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Final

from detectors.reading import DEVICE_ID_RE
from ingest.durable_files import replace_file


class BrokerAuthError(ValueError):
    """A credential or ACL change cannot be made; the message is one line for the operator."""


class Role(StrEnum):
    """What a broker user is for; see the packaged ACL template for what each may do."""

    DEVICE = "device"
    SERVICE = "service"
    CONSUMER = "consumer"
    GATEWAY = "gateway"


TELEMETRY_TOPIC_PATTERN: Final = "cargo/v1/%u/telemetry"
ALERTS_FILTER: Final = "cargo/v1/alerts/#"
ALL_TELEMETRY_FILTER: Final = "cargo/v1/+/telemetry"

#: ACL lines (access, topic) per role. Devices have none of their own: the template's
#: ``pattern write cargo/v1/%u/telemetry`` gives every user its own telemetry topic.
ROLE_RULES: Final[Mapping[Role, tuple[tuple[str, str], ...]]] = {
    Role.DEVICE: (),
    Role.SERVICE: (("read", ALL_TELEMETRY_FILTER), ("write", ALERTS_FILTER)),
    Role.CONSUMER: (("read", ALERTS_FILTER),),
    Role.GATEWAY: (("write", ALL_TELEMETRY_FILTER),),
}

#: mosquitto_passwd's own default (mosquitto 2.0). The passwords this module generates carry
#: 190 bits of entropy, so no number of iterations changes whether a stolen password file
#: can be brute-forced; iterations would only cost the broker, which hashes on its single
#: thread at every CONNECT (210,000 iterations took 0.12 s a login here: a fleet of 10,000
#: trackers reconnecting after an outage would stall the broker for 20 minutes).
PBKDF2_ITERATIONS: Final = 101
SALT_BYTES: Final = 12  # what mosquitto_passwd uses
_HASH_BYTES: Final = 64  # SHA-512's output
_PASSWORD_ALPHABET: Final = string.ascii_letters + string.digits
#: 32 characters of 62: about 190 bits. Letters and digits only, so a password goes into an
#: mqtt://user:password@host URL, a shell command or a config file without any quoting.
PASSWORD_LENGTH: Final = 32
FILE_MODE: Final = 0o600

_ROLE_LINE: Final = re.compile(r"# role: (\S+)")
_USER_LINE: Final = re.compile(r"user (\S+)")


def check_username(name: str) -> str:
    """Return ``name`` if it is a valid broker user name: the wire contract's device id.

    Every user, device or not, is held to the device-id rule, because the ACL pattern turns
    any user name into a topic level (``cargo/v1/<name>/telemetry``).

    >>> check_username("trk-00001")
    'trk-00001'
    >>> check_username("trk/1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ingest.broker_auth.BrokerAuthError: 'trk/1' is not a valid device id or user name: ...
    """
    if not DEVICE_ID_RE.fullmatch(name):
        raise BrokerAuthError(
            f"{name!r} is not a valid device id or user name: "
            "it must be 1-64 characters of A-Z a-z 0-9 . _ -"
        )
    return name


def generate_password() -> str:
    """A new random password (`PASSWORD_LENGTH` letters and digits)."""
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(
    password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS
) -> str:
    """Mosquitto's PBKDF2-SHA512 password hash, ``$7$iterations$base64(salt)$base64(hash)``.

    >>> hash_password("secret", salt=bytes(12))[:24]
    '$7$101$AAAAAAAAAAAAAAAA$'
    """
    if salt is None:
        salt = secrets.token_bytes(SALT_BYTES)
    if not salt or iterations < 1:
        raise ValueError("a password hash needs a salt and at least one iteration")
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(encoded: str, password: str) -> bool:
    """Whether ``password`` matches a ``$7$`` hash, checked the way mosquitto checks it.

    Raises `BrokerAuthError` when ``encoded`` is not a PBKDF2-SHA512 hash at all.
    """
    parts = encoded.split("$")
    if len(parts) != 5 or parts[0] != "" or parts[1] != "7":
        raise BrokerAuthError("not a mosquitto PBKDF2-SHA512 ($7$) password hash")
    try:
        iterations = int(parts[2])
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except (ValueError, binascii.Error):
        raise BrokerAuthError("malformed $7$ password hash") from None
    if iterations < 1 or not salt or len(expected) != _HASH_BYTES:
        raise BrokerAuthError("malformed $7$ password hash")
    actual = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return hmac.compare_digest(actual, expected)


def password_entry(username: str, password: str, salt: bytes | None = None) -> str:
    """One password-file line (without the newline) for a user."""
    return f"{check_username(username)}:{hash_password(password, salt)}"


def parse_password_file(text: str) -> dict[str, str]:
    """User name -> hash, in file order. Blank lines are skipped; anything else without a
    ``user:hash`` shape is an error (mosquitto would refuse to start on it too)."""
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        username, colon, hashed = line.partition(":")
        if not colon or not username or not hashed:
            raise BrokerAuthError(f"password file line {number} is not user:hash")
        if username in entries:
            raise BrokerAuthError(f"password file names {username!r} twice (line {number})")
        entries[username] = hashed
    return entries


def render_password_file(entries: Mapping[str, str]) -> str:
    return "".join(f"{username}:{hashed}\n" for username, hashed in entries.items())


@dataclass(frozen=True, slots=True)
class AclUser:
    """A user with a block of its own in the ACL file (any role but `Role.DEVICE`)."""

    username: str
    role: Role


def _template(name: str) -> string.Template:
    text = resources.files("ingest").joinpath("mosquitto", name).read_text(encoding="utf-8")
    return string.Template(text)


def render_acl(users: Sequence[AclUser]) -> str:
    """The ACL file: the packaged template with one block per user, in the order given."""
    blocks = []
    for user in users:
        if user.role is Role.DEVICE:
            raise ValueError("devices need no ACL block; the template's pattern covers them")
        lines = [f"# role: {user.role}", f"user {check_username(user.username)}"]
        lines += [f"topic {access} {topic}" for access, topic in ROLE_RULES[user.role]]
        blocks.append("\n".join(lines))
    return _template("acl").substitute(users="\n\n".join(blocks)).rstrip("\n") + "\n"


def parse_acl(text: str) -> list[AclUser]:
    """The users of an ACL file written by `render_acl`, in file order.

    Only the ``# role:`` + ``user`` pairs are read; the rest is rendered again from the
    template and `ROLE_RULES`. A ``user`` line without its role line (a hand edit) is an
    error rather than something to drop silently when the file is rewritten.
    """
    users: list[AclUser] = []
    role: Role | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if match := _ROLE_LINE.fullmatch(line):
            try:
                role = Role(match[1])
            except ValueError:
                raise BrokerAuthError(f"ACL line {number}: unknown role {match[1]!r}") from None
            continue
        if match := _USER_LINE.fullmatch(line):
            if role is None or role is Role.DEVICE:
                raise BrokerAuthError(
                    f"ACL line {number}: user {match[1]!r} has no '# role:' line above it; "
                    "this file was edited by hand, add users with cargowatch broker add-user"
                )
            users.append(AclUser(match[1], role))
            role = None
    return users


def atomic_write(path: Path, text: str, mode: int = FILE_MODE) -> None:
    """Replace ``path`` with ``text`` whole or not at all (`ingest.durable_files.replace_file`).

    A reader (mosquitto on SIGHUP) sees the old file or the new one, never a part, and the
    owner of an existing file carries over, so a file the broker's own user owns stays
    readable to it.
    """
    replace_file(path, text.encode("utf-8"), mode)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    # A lock on the directory itself (flock works on directory descriptors on Linux) leaves
    # no lock file behind; it serialises read-modify-write so two operators adding users at
    # once cannot each write a file without the other's entry.
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokerAuthError(f"cannot read the {what} {path}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Added:
    """What `add_user` did: the new password (shown once) and whether a user was replaced."""

    username: str
    role: Role
    password: str
    replaced: bool


def add_user(
    password_file: Path,
    username: str,
    role: Role = Role.DEVICE,
    *,
    acl_file: Path | None = None,
    replace: bool = False,
    password: str | None = None,
) -> Added:
    """Give ``username`` a new random password (or ``password``) and, unless it is a
    device, its role's block in the ACL file.

    Refuses a name the password file already holds unless ``replace``; a device may not
    take the name of a user the ACL gives another role (it would gain that role's rights).
    The ACL is written before the password file, so a user can log in only once both are
    in place. The broker loads the change on SIGHUP (`reload_broker`).
    """
    check_username(username)
    if role is not Role.DEVICE and acl_file is None:
        raise BrokerAuthError(f"a {role} user needs --acl-file: its rights are listed there")
    directory = password_file.parent
    if not directory.is_dir():
        raise BrokerAuthError(f"{directory} is not a directory")
    with _locked(directory):
        entries = parse_password_file(_read_text(password_file, "password file"))
        exists = username in entries
        if exists and not replace:
            raise BrokerAuthError(
                f"{username!r} is already in {password_file}; "
                "pass --replace to give it a new password"
            )
        if acl_file is not None:
            users = parse_acl(_read_text(acl_file, "ACL file"))
            others = [u for u in users if u.username != username]
            current = next((u for u in users if u.username == username), None)
            if role is Role.DEVICE and current is not None:
                raise BrokerAuthError(
                    f"{username!r} is a {current.role} user in {acl_file}, not a device; "
                    "use add-user to change its password"
                )
            if role is not Role.DEVICE and current != AclUser(username, role):
                if current is None and exists:
                    # Turning a device into a service user silently would widen its rights.
                    raise BrokerAuthError(
                        f"{username!r} is already a device in {password_file}; "
                        f"pick another name for a {role} user"
                    )
                atomic_write(acl_file, render_acl([*others, AclUser(username, role)]))
        secret = password if password is not None else generate_password()
        entries[username] = hash_password(secret)
        atomic_write(password_file, render_password_file(entries))
    return Added(username, role, secret, exists)


def init_files(password_file: Path, acl_file: Path) -> None:
    """Create an empty password file if there is none and (re)render the ACL file from the
    template, keeping the users it already lists."""
    with _locked(password_file.parent):
        if not password_file.exists():
            atomic_write(password_file, "")
        users = parse_acl(_read_text(acl_file, "ACL file"))
        atomic_write(acl_file, render_acl(users))


def reload_broker(pid: int) -> None:
    """Send mosquitto SIGHUP so it rereads its password and ACL files.

    Checks first, where /proc allows, that ``pid`` is a mosquitto process: a mistyped pid
    must not deliver SIGHUP (which by default terminates) to some other program.
    """
    comm = Path(f"/proc/{pid}/comm")
    try:
        name = comm.read_text().strip()
    except FileNotFoundError:
        raise BrokerAuthError(f"no process with pid {pid}; mosquitto not reloaded") from None
    except OSError:
        name = "mosquitto"  # no /proc to ask: trust the operator
    if name != "mosquitto":
        raise BrokerAuthError(f"pid {pid} is {name!r}, not mosquitto; not signalled")
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise BrokerAuthError(f"no process with pid {pid}; mosquitto not reloaded") from None
    except PermissionError:
        raise BrokerAuthError(f"not allowed to signal pid {pid}; mosquitto not reloaded") from None
