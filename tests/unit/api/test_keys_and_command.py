"""API keys are stored as the SHA-256 of the whole key, and ``cargowatch db upgrade`` takes
the store's URL as a flag or environment variable like every other setting."""

from __future__ import annotations

import hashlib

import pytest

from api.keys import hash_key
from cargowatch.cli import main


def test_a_key_is_stored_as_the_hex_sha256_of_the_whole_key():
    key = "cw_0a1b2c3d_" + "x" * 43
    assert hash_key(key) == hashlib.sha256(key.encode()).hexdigest()


def test_db_upgrade_help_names_the_flag_the_variable_and_the_default(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["db", "upgrade", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--db-url" in text and "CARGOWATCH_DB_URL" in text
    assert "default 'sqlite:///./var/cargowatch.db'" in text


def test_db_without_an_action_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["db"])
    assert exited.value.code == 2
