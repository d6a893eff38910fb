"""The default output folder comes from the scenario's own meta.name, which a file received
from someone else chooses: it is reduced to a safe character set and stays one folder
directly inside runs/, and names are printed as text, never as terminal markup."""

from __future__ import annotations

import os
import re

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import credsim.cli
from credsim.cli import default_out_dir

from conftest import city_text
import tomllib

HOSTILE = ["../../x", "/tmp/elsewhere", "a\x00b", "[/bold]", "[bold red]x", "..", ".", ".hidden", "-rf", "a/../../b", "~", "x" * 80, "é ü", "\\..\\x"]


@settings(max_examples=300, deadline=None, database=None)
@given(name=st.one_of(st.sampled_from(HOSTILE), st.text(min_size=1, max_size=80)), seed=st.integers(0, 2**32))
def test_the_default_folder_is_one_plain_folder_inside_runs(name, seed, tmp_path_factory):
    folder = default_out_dir(name, seed)
    assert folder.parent.name == "runs" and len(folder.parts) == 2
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*-seed\d+", folder.name), folder.name
    assert len(folder.name) <= 80 + len(f"-seed{seed}")


def test_a_plain_name_is_kept():
    assert str(default_out_dir("city", 3)) == os.path.join("runs", "city-seed3")
    assert str(default_out_dir("beijing-2020", 0)) == os.path.join("runs", "beijing-2020-seed0")
    # the examples of docs/reliability.md, section 6
    for name, folder in (("../../x", "_.._x"), ("/tmp/x", "_tmp_x"), ("[/bold]", "_bold_"), ("a\x00b", "a_b")):
        assert str(default_out_dir(name, 0)) == os.path.join("runs", f"{folder}-seed0")


@pytest.mark.parametrize("name", ["../../x", "/ABS/x", "a\x00b", "[/bold]"])
def test_a_run_named_by_a_hostile_file_writes_only_inside_runs(name, tmp_path, monkeypatch):
    """`credsim run FILE` (not --quiet: the name is printed) writes nothing outside runs/
    and prints the name as it is; the folder is runs/<sanitized name>-seed0."""
    data = tomllib.loads(city_text())
    data["meta"]["name"] = name.replace("/ABS", str(tmp_path))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "s.toml").write_text(tomli_w.dumps(data), encoding="utf-8")
    work = tmp_path / "work" / "deeper"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    before = {p for p in tmp_path.rglob("*")}
    result = CliRunner().invoke(credsim.cli.app, ["run", str(tmp_path / "in" / "s.toml"), "-n", "60", "-d", "2", "--checkpoint-every", "0"])
    assert result.exit_code == 0, (result.output, result.exception)
    written = {p for p in tmp_path.rglob("*")} - before
    expected = work / default_out_dir(data["meta"]["name"], 0)
    assert expected.is_dir() and (expected / "manifest.json").is_file()
    assert all(p == work / "runs" or p.is_relative_to(expected) for p in written), sorted(map(str, written))
    if "\x00" not in name:
        assert data["meta"]["name"] in result.output  # printed as text, markup and all


def test_an_out_path_the_file_system_cannot_take_is_a_clear_error(tmp_path):
    for out in (str(tmp_path / "a\x00b"), str(tmp_path / ("x" * 300) / "y")):
        result = CliRunner().invoke(credsim.cli.app, ["run", "city", "-n", "60", "-d", "2", "-q", "--out", out])
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit), (result.output, result.exception)
        assert "Traceback" not in result.output and "--out" in result.output  # click refuses the NUL itself
