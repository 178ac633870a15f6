"""The migrations travel with the package: Alembic is configured in code to find them next to
the installed ``api`` package (not the working directory), the package data pyproject declares
covers every migration file, and they form one line of revisions ending at the head the code
checks for."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from alembic.script import ScriptDirectory

import api
from api.schema import MIGRATIONS, alembic_config, head_revision

REPO = Path(__file__).resolve().parents[3]


def test_alembic_finds_the_migrations_inside_the_package_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Path(alembic_config().get_main_option("script_location")) == MIGRATIONS
    assert MIGRATIONS.parent == Path(api.__file__).resolve().parent
    assert head_revision() == "0006"


def test_the_revisions_form_one_line_from_the_first_to_the_head():
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
    revisions = list(script.walk_revisions())
    assert revisions[-1].down_revision is None
    assert all(r.module.__doc__ for r in revisions), "every migration says what it changes"


def test_every_migration_file_is_in_the_package_data_pyproject_declares():
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["api"]
    files = [
        p.relative_to(REPO / "api").as_posix()
        for p in MIGRATIONS.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    assert files
    unpackaged = [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)]
    assert unpackaged == []
