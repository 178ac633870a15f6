"""Unit tests for broker credentials: mosquitto's password-file format, user names, the
atomic, locked file updates, the ACL rendering and the shipped mosquitto.conf."""

import base64
import os
import re
import stat
import subprocess
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from services import find_executable

from cargowatch.cli import main
from ingest import broker_auth
from ingest.broker_auth import (
    AclUser,
    BrokerAuthError,
    Role,
    add_user,
    atomic_write,
    check_username,
    generate_password,
    hash_password,
    parse_acl,
    parse_password_file,
    password_entry,
    render_acl,
    verify_password,
)
from ingest.broker_config import (
    DURABLE,
    NON_DURABLE,
    parse_listen,
    render_mosquitto_conf,
    write_config,
)

# Written by Debian's mosquitto_passwd 2.0.11: `mosquitto_passwd -c -b pw alice secret`.
MOSQUITTO_PASSWD_LINE = (
    "alice:$7$101$tH19jThOalp+ILIL$4kqGJK2yWywQ8kPYTMLY+HjFJTqSqaToCR6lYlEsE9V9D4Se5AUVo5Kvbsf"
    "LQjTJq9LME6oywwIVUZhfd9YLqg=="
)
HASH_RE = re.compile(r"\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==")

device_ids = st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True)
passwords = st.text(min_size=1, max_size=80).filter(lambda p: "\x00" not in p)


# --- the password hash ----------------------------------------------------------------------


def test_hash_of_a_known_salt_is_what_mosquitto_passwd_wrote():
    user, hashed = MOSQUITTO_PASSWD_LINE.split(":", 1)
    salt = base64.b64decode(hashed.split("$")[3])
    assert hash_password("secret", salt=salt, iterations=101) == hashed
    assert password_entry(user, "secret", salt=salt) == MOSQUITTO_PASSWD_LINE


def test_verifier_accepts_mosquitto_passwd_output_and_only_its_password():
    hashed = MOSQUITTO_PASSWD_LINE.split(":", 1)[1]
    assert verify_password(hashed, "secret")
    assert not verify_password(hashed, "Secret")
    assert not verify_password(hashed, "secret ")


def test_same_bytes_as_the_installed_mosquitto_passwd(tmp_path):
    # The installed tool picks its own random salt; given that salt, we must write its line.
    path = tmp_path / "pw"
    binary = find_executable("mosquitto_passwd")
    subprocess.run([binary, "-c", "-b", str(path), "trk-7", "p4ss:wörd"], check=True)
    line = path.read_text().strip()
    salt = base64.b64decode(line.split("$")[3])
    assert password_entry("trk-7", "p4ss:wörd", salt=salt) == line


def test_hash_has_mosquittos_shape_and_a_fresh_salt_each_time():
    first, second = hash_password("x"), hash_password("x")
    assert HASH_RE.fullmatch(first)
    assert HASH_RE.fullmatch(second)
    assert first != second


@settings(max_examples=60, deadline=None)
@given(password=passwords, other=passwords)
def test_every_password_verifies_against_its_own_hash_only(password, other):
    hashed = hash_password(password)
    assert verify_password(hashed, password)
    if other != password:
        assert not verify_password(hashed, other)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "plain",
        "$6$c2FsdA==$aGFzaA==",  # mosquitto's older salted SHA-512, not PBKDF2
        "$7$x$AAAA$AAAA",
        "$7$101$not base64$AAAA",
        "$7$101$AAAAAAAAAAAAAAAA$AAAA",  # a hash shorter than SHA-512's 64 bytes
        "$7$0$AAAAAAAAAAAAAAAA$" + base64.b64encode(bytes(64)).decode(),
    ],
)
def test_malformed_hashes_are_refused_not_treated_as_a_mismatch(bad):
    with pytest.raises(BrokerAuthError):
        verify_password(bad, "secret")


def test_generated_passwords_are_long_random_and_url_safe():
    seen = {generate_password() for _ in range(200)}
    assert len(seen) == 200
    for password in seen:
        assert re.fullmatch(r"[A-Za-z0-9]{32}", password)


# --- user names -----------------------------------------------------------------------------


@given(device_ids)
def test_every_wire_contract_device_id_is_a_valid_user_name(name):
    assert check_username(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "x" * 65, "trk/1", "trk+", "trk#", "trk 1", "trk:1", "trk\n", "trké", "$SYS", "%u"],
)
def test_names_outside_the_wire_contract_are_refused_in_one_line(name):
    with pytest.raises(BrokerAuthError) as error:
        check_username(name)
    message = str(error.value)
    assert "\n" not in message
    assert message == (
        f"{name!r} is not a valid device id or user name: "
        "it must be 1-64 characters of A-Z a-z 0-9 . _ -"
    )


# --- the password file ----------------------------------------------------------------------


def test_add_device_writes_a_verifiable_entry_with_mode_0600(tmp_path):
    path = tmp_path / "passwd"
    added = add_user(path, "trk-00001")
    assert added.role is Role.DEVICE and not added.replaced
    entries = parse_password_file(path.read_text())
    assert list(entries) == ["trk-00001"]
    assert verify_password(entries["trk-00001"], added.password)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_duplicates_are_refused_unless_replace(tmp_path):
    path = tmp_path / "passwd"
    first = add_user(path, "trk-1")
    before = path.read_text()
    with pytest.raises(BrokerAuthError, match=r"already in .*pass --replace"):
        add_user(path, "trk-1")
    assert path.read_text() == before
    second = add_user(path, "trk-1", replace=True)
    assert second.replaced
    hashed = parse_password_file(path.read_text())["trk-1"]
    assert verify_password(hashed, second.password)
    assert not verify_password(hashed, first.password)


def test_other_lines_survive_verbatim_and_in_order(tmp_path):
    path = tmp_path / "passwd"
    old_style = "legacy:$6$c2FsdA==$aGFzaA=="
    path.write_text(f"{MOSQUITTO_PASSWD_LINE}\n\n{old_style}\n")
    add_user(path, "trk-2")
    add_user(path, "alice", replace=True)
    lines = path.read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["alice", "legacy", "trk-2"]
    assert lines[1] == old_style
    assert lines[0] != MOSQUITTO_PASSWD_LINE


@pytest.mark.parametrize(
    "text, problem",
    [("no colon here\n", "line 1 is not user:hash"), ("a:x\nb:y\na:z\n", "names 'a' twice")],
)
def test_a_password_file_we_cannot_read_is_left_alone(tmp_path, text, problem):
    path = tmp_path / "passwd"
    path.write_text(text)
    with pytest.raises(BrokerAuthError, match=problem):
        add_user(path, "trk-1")
    assert path.read_text() == text


def test_a_missing_directory_is_an_error_not_a_traceback(tmp_path):
    with pytest.raises(BrokerAuthError, match="is not a directory"):
        add_user(tmp_path / "nowhere" / "passwd", "trk-1")


def test_atomic_write_renames_a_new_file_into_place(tmp_path):
    path = tmp_path / "passwd"
    path.write_text("old\n")
    os.chmod(path, 0o644)
    inode = path.stat().st_ino
    atomic_write(path, "new\n")
    assert path.read_text() == "new\n"
    assert path.stat().st_ino != inode  # a rename, not an overwrite in place
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passwd"]


def test_mode_is_0600_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        add_user(tmp_path / "passwd", "trk-1")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "passwd").stat().st_mode) == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "passwd"
    add_user(path, "trk-1")
    before = path.read_text()

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(broker_auth.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        add_user(path, "trk-2")
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passwd"]


def test_concurrent_adds_lose_no_entry(tmp_path):
    path = tmp_path / "passwd"
    names = [f"trk-{i:03d}" for i in range(16)]
    errors: list[BaseException] = []

    def add(name: str) -> None:
        try:
            add_user(path, name)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(parse_password_file(path.read_text())) == names


# --- roles and the ACL ----------------------------------------------------------------------


def test_acl_grants_each_role_exactly_its_topics():
    text = render_acl(
        [
            AclUser("cargowatch", Role.SERVICE),
            AclUser("alerts-reader", Role.CONSUMER),
            AclUser("fleet-gateway", Role.GATEWAY),
        ]
    )
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert rules == [
        "pattern write cargo/v1/%u/telemetry",
        "user cargowatch",
        "topic read cargo/v1/+/telemetry",
        "topic write cargo/v1/alerts/#",
        "user alerts-reader",
        "topic read cargo/v1/alerts/#",
        "user fleet-gateway",
        "topic write cargo/v1/+/telemetry",
    ]


def test_acl_without_users_grants_devices_their_own_telemetry_only():
    rules = [line for line in render_acl([]).splitlines() if line and not line.startswith("#")]
    assert rules == ["pattern write cargo/v1/%u/telemetry"]


@given(
    st.dictionaries(
        device_ids, st.sampled_from([Role.SERVICE, Role.CONSUMER, Role.GATEWAY]), max_size=8
    )
)
def test_acl_reads_back_the_users_it_was_rendered_from(users):
    acl_users = [AclUser(name, role) for name, role in users.items()]
    assert parse_acl(render_acl(acl_users)) == acl_users


def test_a_hand_added_user_line_is_refused_rather_than_dropped():
    text = render_acl([]) + "user someone\ntopic readwrite #\n"
    with pytest.raises(BrokerAuthError, match="edited by hand"):
        parse_acl(text)


def test_add_user_writes_its_role_into_the_acl(tmp_path):
    passwd, acl = tmp_path / "passwd", tmp_path / "acl"
    add_user(passwd, "cargowatch", Role.SERVICE, acl_file=acl)
    add_user(passwd, "alerts-reader", Role.CONSUMER, acl_file=acl)
    add_user(passwd, "trk-1", acl_file=acl)
    assert parse_acl(acl.read_text()) == [
        AclUser("cargowatch", Role.SERVICE),
        AclUser("alerts-reader", Role.CONSUMER),
    ]
    assert sorted(parse_password_file(passwd.read_text())) == [
        "alerts-reader",
        "cargowatch",
        "trk-1",
    ]
    assert stat.S_IMODE(acl.stat().st_mode) == 0o600


def test_a_role_user_needs_the_acl_file(tmp_path):
    with pytest.raises(BrokerAuthError, match="needs --acl-file"):
        add_user(tmp_path / "passwd", "cargowatch", Role.SERVICE)
    assert not (tmp_path / "passwd").exists()


def test_names_are_not_shared_between_devices_and_role_users(tmp_path):
    passwd, acl = tmp_path / "passwd", tmp_path / "acl"
    add_user(passwd, "cargowatch", Role.SERVICE, acl_file=acl)
    add_user(passwd, "trk-1")
    with pytest.raises(BrokerAuthError, match="is a service user"):
        add_user(passwd, "cargowatch", acl_file=acl, replace=True)
    with pytest.raises(BrokerAuthError, match="already a device"):
        add_user(passwd, "trk-1", Role.GATEWAY, acl_file=acl, replace=True)
    assert parse_acl(acl.read_text()) == [AclUser("cargowatch", Role.SERVICE)]


def test_replace_may_change_a_role_users_role(tmp_path):
    passwd, acl = tmp_path / "passwd", tmp_path / "acl"
    add_user(passwd, "ops", Role.CONSUMER, acl_file=acl)
    add_user(passwd, "ops", Role.GATEWAY, acl_file=acl, replace=True)
    assert parse_acl(acl.read_text()) == [AclUser("ops", Role.GATEWAY)]


# --- the shipped mosquitto.conf -------------------------------------------------------------


def _directives(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_shipped_config_refuses_anonymous_clients_and_keeps_every_queued_message(tmp_path):
    text = render_mosquitto_conf(
        host="127.0.0.1",
        port=1883,
        persistence_dir=tmp_path / "data",
        password_file=tmp_path / "passwd",
        acl_file=tmp_path / "acl",
        run_as="mosquitto",
        log_file=tmp_path / "mosquitto.log",
    )
    directives = _directives(text)
    for expected in [
        "listener 1883 127.0.0.1",
        "allow_anonymous false",
        f"password_file {tmp_path}/passwd",
        f"acl_file {tmp_path}/acl",
        "user mosquitto",
        "persistence true",
        f"persistence_location {tmp_path}/data/",
        "autosave_on_changes true",
        "autosave_interval 1",
        "max_queued_messages 0",
        "max_queued_bytes 0",
        f"log_dest file {tmp_path}/mosquitto.log",
    ]:
        assert expected in directives
    assert not any(d.startswith("allow_anonymous true") for d in directives)


def test_non_durable_settings_are_mosquittos_defaults(tmp_path):
    text = render_mosquitto_conf(
        host="127.0.0.1",
        port=1883,
        persistence_dir=tmp_path,
        password_file=tmp_path / "passwd",
        acl_file=tmp_path / "acl",
        durability=NON_DURABLE,
    )
    assert "autosave_on_changes false" in _directives(text)
    assert "autosave_interval 1800" in _directives(text)
    assert "log_dest stderr" in _directives(text)
    assert not any(d.startswith("user ") for d in _directives(text))
    assert DURABLE.autosave_on_changes and DURABLE.autosave_interval == 1


@pytest.mark.parametrize("path", ["/tmp/with space/passwd", "/tmp/x\nallow_anonymous true"])
def test_a_path_that_would_break_the_config_is_refused(tmp_path, path):
    with pytest.raises(BrokerAuthError, match="must not be empty or contain spaces"):
        render_mosquitto_conf(
            host="127.0.0.1",
            port=1883,
            persistence_dir=tmp_path,
            password_file=Path(path),
            acl_file=tmp_path / "acl",
        )


@pytest.mark.parametrize("text", ["1883", "host:", ":1883", "h:0", "h:65536", "h:x"])
def test_listen_must_be_host_and_port(text):
    with pytest.raises(BrokerAuthError, match="--listen must be HOST:PORT"):
        parse_listen(text)


def test_write_config_keeps_users_and_never_clobbers_the_password_file(tmp_path):
    etc = tmp_path / "etc"
    files = write_config(
        etc, host="127.0.0.1", port=1883, persistence_dir=tmp_path / "data", run_as="nobody"
    )
    assert files.password_file.read_text() == ""
    add_user(files.password_file, "cargowatch", Role.SERVICE, acl_file=files.acl_file)
    passwd = files.password_file.read_text()
    write_config(
        etc, host="127.0.0.1", port=1884, persistence_dir=tmp_path / "data", run_as="nobody"
    )
    assert files.password_file.read_text() == passwd
    assert parse_acl(files.acl_file.read_text()) == [AclUser("cargowatch", Role.SERVICE)]
    assert "listener 1884 127.0.0.1" in files.config.read_text()


# --- the command line -----------------------------------------------------------------------


def test_add_device_prints_the_password_once_on_stdout(tmp_path, capsys):
    path = tmp_path / "passwd"
    assert main(["broker", "add-device", "trk-9", "--password-file", str(path)]) == 0
    out, err = capsys.readouterr()
    password = out.strip()
    assert out == password + "\n"
    assert verify_password(parse_password_file(path.read_text())["trk-9"], password)
    assert password not in err
    assert "SIGHUP" in err


def test_add_user_with_a_role(tmp_path, capsys):
    passwd, acl = tmp_path / "passwd", tmp_path / "acl"
    argv = ["broker", "add-user", "alerts-reader", "--role", "consumer"]
    assert main([*argv, "--password-file", str(passwd), "--acl-file", str(acl)]) == 0
    assert parse_acl(acl.read_text()) == [AclUser("alerts-reader", Role.CONSUMER)]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("trk/1", "cargowatch broker: 'trk/1' is not a valid device id or user name: "),
        ("trk-1", "cargowatch broker: 'trk-1' is already in "),
    ],
)
def test_command_errors_are_one_line_and_exit_2(tmp_path, capsys, name, expected):
    path = tmp_path / "passwd"
    add_user(path, "trk-1")
    assert main(["broker", "add-device", name, "--password-file", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(expected)
    assert err.count("\n") == 1


def test_reload_pid_of_something_else_is_not_signalled(tmp_path, capsys):
    path = tmp_path / "passwd"
    argv = ["broker", "add-device", "trk-1", "--password-file", str(path)]
    assert main([*argv, "--reload-pid", str(os.getpid())]) == 1
    out, err = capsys.readouterr()
    assert "trk-1" in parse_password_file(path.read_text())
    assert out.strip()  # the password was written, so it is still shown
    assert "added device trk-1" in err and "not mosquitto; not signalled" in err


def test_write_config_command(tmp_path, capsys):
    argv = ["broker", "write-config", str(tmp_path / "etc"), "--listen", "127.0.0.1:18830"]
    argv += ["--persistence-dir", str(tmp_path / "data"), "--run-as", "nobody"]
    assert main(argv) == 0
    directives = _directives((tmp_path / "etc" / "mosquitto.conf").read_text())
    assert "listener 18830 127.0.0.1" in directives
    assert "autosave_on_changes true" in directives
    assert (tmp_path / "etc" / "acl").exists() and (tmp_path / "etc" / "passwd").exists()


def test_write_config_can_save_on_a_timer_instead(tmp_path, capsys):
    argv = ["broker", "write-config", str(tmp_path / "etc"), "--autosave", "timed"]
    argv += ["--persistence-dir", str(tmp_path / "data"), "--run-as", "nobody"]
    assert main(argv) == 0
    directives = _directives((tmp_path / "etc" / "mosquitto.conf").read_text())
    assert "autosave_on_changes false" in directives
    assert "autosave_interval 1" in directives
    assert "max_queued_messages 0" in directives
