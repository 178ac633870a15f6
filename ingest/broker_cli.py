"""`cargowatch broker`: write the shipped mosquitto config and add broker users.

Three subcommands, mounted by ``cargowatch/cli.py``: ``write-config`` renders mosquitto.conf,
the ACL and an empty password file into a directory (`ingest.broker_config`); ``add-device``
and ``add-user`` give a tracker or a service, consumer or gateway account a new random
password (`ingest.broker_auth`). The password is the only thing printed on stdout, once, so
a script can capture it (``PASS=$(cargowatch broker add-device trk-1 --password-file ...)``);
what to do next goes to stderr. Errors are one line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ingest.broker_auth import BrokerAuthError, Role, add_user, reload_broker
from ingest.broker_config import AUTOSAVE, parse_listen, write_config

_ACCOUNT_ROLES = [r.value for r in Role if r is not Role.DEVICE]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``broker`` subcommands to ``parser``."""
    commands = parser.add_subparsers(dest="broker_command", required=True, metavar="ACTION")

    config = commands.add_parser(
        "write-config",
        help="write the shipped mosquitto.conf, ACL and an empty password file into DIR",
        description="Write DIR/mosquitto.conf (one listener, no anonymous clients, durable "
        "unlimited queues), DIR/acl (kept users are rendered again) and, if missing, an "
        "empty DIR/passwd. Start mosquitto with -c DIR/mosquitto.conf.",
    )
    config.add_argument("directory", type=Path, metavar="DIR")
    config.add_argument(
        "--listen", default="127.0.0.1:1883", metavar="HOST:PORT", help="default %(default)s"
    )
    config.add_argument(
        "--persistence-dir",
        type=Path,
        required=True,
        metavar="PATH",
        help="where mosquitto keeps its database (queued messages, sessions)",
    )
    config.add_argument(
        "--run-as",
        metavar="USER",
        help="user mosquitto switches to when started as root (mosquitto's default: mosquitto)",
    )
    config.add_argument("--log-file", type=Path, metavar="PATH", help="default: stderr")
    config.add_argument(
        "--autosave",
        choices=list(AUTOSAVE),
        default="per-change",
        help="per-change (default): save the queue after every change, so a SIGKILL loses "
        "(almost) nothing, at a large cost for a busy connection (see README); timed: save "
        "every 1-2 s, so a SIGKILL loses up to the last 2 s of acknowledged messages",
    )

    device = commands.add_parser(
        "add-device",
        help="give a tracker (user name = device id) a new random password",
        description="Add DEVICE_ID to the password file with a new random password, printed "
        "once on stdout. The device may publish only cargo/v1/DEVICE_ID/telemetry.",
    )
    device.add_argument("name", metavar="DEVICE_ID")
    _add_common(device, acl_required=False)

    user = commands.add_parser(
        "add-user",
        help="add a service, consumer or gateway user with a new random password",
        description="Add USER with a new random password, printed once on stdout, and its "
        "role's rights to the ACL file. service: cargowatch ingest (reads telemetry, publishes "
        "alerts); consumer: reads alerts; gateway: publishes telemetry for any device.",
    )
    user.add_argument("name", metavar="USER")
    user.add_argument("--role", required=True, choices=_ACCOUNT_ROLES)
    _add_common(user, acl_required=True)


def _add_common(parser: argparse.ArgumentParser, acl_required: bool) -> None:
    parser.add_argument("--password-file", type=Path, required=True, metavar="PATH")
    parser.add_argument(
        "--acl-file",
        type=Path,
        required=acl_required,
        metavar="PATH",
        help="the ACL file"
        + ("" if acl_required else " (checks the id is not another role's user)"),
    )
    parser.add_argument(
        "--replace", action="store_true", help="give an existing user a new password"
    )
    parser.add_argument(
        "--reload-pid",
        type=int,
        metavar="PID",
        help="send this mosquitto SIGHUP afterwards, so the change takes effect",
    )


def run(args: argparse.Namespace) -> int:
    """Execute a parsed ``cargowatch broker`` command line; returns the exit code."""
    try:
        if args.broker_command == "write-config":
            return _write_config(args)
        return _add(args)
    except BrokerAuthError as exc:
        print(f"cargowatch broker: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"cargowatch broker: {exc}", file=sys.stderr)
        return 1


def _write_config(args: argparse.Namespace) -> int:
    host, port = parse_listen(args.listen)
    files = write_config(
        args.directory,
        host=host,
        port=port,
        persistence_dir=args.persistence_dir,
        run_as=args.run_as,
        log_file=args.log_file,
        durability=AUTOSAVE[args.autosave],
    )
    print(
        f"wrote {files.config}, {files.acl_file} and {files.password_file}; add users with "
        f"cargowatch broker add-user/add-device --password-file {files.password_file} "
        f"--acl-file {files.acl_file}, then start mosquitto -c {files.config}",
        file=sys.stderr,
    )
    return 0


def _add(args: argparse.Namespace) -> int:
    role = Role.DEVICE if args.broker_command == "add-device" else Role(args.role)
    added = add_user(
        args.password_file, args.name, role, acl_file=args.acl_file, replace=args.replace
    )
    # The one line on stdout; it is not stored anywhere in clear, so it cannot be shown again.
    print(added.password, flush=True)
    what = "device" if role is Role.DEVICE else f"{role} user"
    verb = "gave" if added.replaced else "added"
    done = f"{verb} {what} {added.username} a new password in {args.password_file}"
    if args.reload_pid is not None:
        try:
            reload_broker(args.reload_pid)
        except BrokerAuthError as exc:
            # The files are written and the password printed: say so, not just the failure.
            print(f"cargowatch broker: {done}, but {exc}", file=sys.stderr)
            return 1
        print(f"{done}; sent mosquitto (pid {args.reload_pid}) SIGHUP to load it", file=sys.stderr)
    else:
        print(
            f"{done}; mosquitto loads it on SIGHUP (kill -HUP <mosquitto pid>, or pass "
            "--reload-pid); the password is shown only this once",
            file=sys.stderr,
        )
    return 0
