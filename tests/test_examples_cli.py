"""`backstop examples` and `example:NAME`, in process (the installed-wheel test repeats the main
ones from a real install): the bundled scenarios are listed with their story, copied out without
overwriting a user's file, and accepted wherever a scenario file is."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from backstop.bundled import example_names, examples_dir
from backstop.cli import app

GOLDEN = Path(__file__).resolve().parent / "golden"


def test_examples_lists_every_bundled_scenario_with_its_story() -> None:
    result = CliRunner().invoke(app, ["examples"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines() if line and not line.startswith("run ")}
    assert sorted(rows) == example_names() and len(rows) >= 11
    # the first line of liquity_stability_pool.yaml's header comment
    assert rows["liquity_stability_pool"].endswith(
        "Liquity-style stability pool and redistribution: who pays when a trove goes under?"
    )


def test_copy_writes_the_example_and_never_overwrites(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["examples", "copy", "euler_exploit", str(tmp_path)])
    assert first.exit_code == 0, first.output
    written = tmp_path / "euler_exploit.yaml"
    assert written.read_text() == (examples_dir() / "euler_exploit.yaml").read_text()
    written.write_text("# my edits\n")
    again = runner.invoke(app, ["examples", "copy", "euler_exploit", str(tmp_path)])
    assert again.exit_code == 2 and "dest:" in again.output
    assert written.read_text() == "# my edits\n"
    named = runner.invoke(app, ["examples", "copy", "flagship", str(tmp_path / "mine.yaml")])
    assert named.exit_code == 0 and (tmp_path / "mine.yaml").is_file()


def test_copy_of_an_unknown_example_or_into_a_missing_directory_is_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(app, ["examples", "copy", "nope", str(tmp_path)])
    assert unknown.exit_code == 2 and "name: no example scenario named 'nope'" in unknown.output
    missing = runner.invoke(app, ["examples", "copy", "flagship", str(tmp_path / "no" / "such.yaml")])
    assert missing.exit_code == 2 and "dest: directory" in missing.output


def test_run_and_validate_accept_example_names() -> None:
    runner = CliRunner()
    ran = runner.invoke(app, ["run", "example:liquity_stability_pool", "--json"])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output) == json.loads((GOLDEN / "run_liquity_stability_pool.json").read_text())
    valid = runner.invoke(app, ["validate", "example:flagship"])
    assert valid.exit_code == 0 and "valid" in valid.output


def test_an_unknown_example_is_a_typed_error_in_every_command() -> None:
    runner = CliRunner()
    for args in (["run", "example:nope"], ["validate", "example:nope"], ["simulate", "example:nope", "--paths", "10"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "file: no example scenario named 'nope'" in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
