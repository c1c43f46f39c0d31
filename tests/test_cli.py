"""The operator CLI (relsafe.cli): policy commands, exit codes, JSON, entry-point dispatch.

Registry commands (probe, compare, status) are in tests/registry/test_cli_registry.py.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from tests_support import PROJECT_ROOT

from relsafe.cli import EXIT_FAIL, EXIT_USAGE, relsafe


@pytest.fixture
def invoke(monkeypatch):
    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "true")

    def run(*args: str):
        return CliRunner().invoke(relsafe, list(args), catch_exceptions=False)

    return run


def test_every_command_has_help(invoke):
    for args in (
        [],
        ["policy"],
        ["policy", "check"],
        ["policy", "explain"],
        ["probe"],
        ["compare"],
        ["status"],
    ):
        result = invoke(*args, "--help")
        assert result.exit_code == 0, (args, result.output)
        assert "Usage:" in result.stdout
    assert "--json" in invoke("status", "--help").stdout


def test_policy_check_default_file(invoke):
    result = invoke("policy", "check")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("conf/base/safety_policy.yml: valid")
    assert "MINOR" in result.stdout and "minor_alcohol" in result.stdout
    data = json.loads(invoke("policy", "check", "--json").stdout)
    assert data["ok"] and data["totals"]["rules"] == len(data["rules"]) > 0
    assert data["classes"]["ALCOHOL"]["exclude"] > 0


def test_policy_check_invalid_policy_names_the_key(invoke, tmp_path):
    bad = tmp_path / "policy.yml"
    bad.write_text(
        "classes:\n  MINOR: {lemmas: [child]}\n  DRINK: {role: relation, lemmas: [drink]}\n"
        "rules:\n  - {id: r1, subject: MINOR, relation: DRINK, object: ALCOHOLL, "
        "category: c, severity: high}\n"
    )
    result = invoke("policy", "check", str(bad))
    assert result.exit_code == EXIT_FAIL
    assert "PolicyError" in result.stderr and "rules.0 (r1).object" in result.stderr
    assert "unknown class 'ALCOHOLL'" in result.stderr
    data = json.loads(invoke("policy", "check", str(bad), "--json").stdout)
    assert data["ok"] is False and data["error"] == "PolicyError"


def test_policy_check_missing_or_unparsable_file_is_bad_input(invoke, tmp_path):
    missing = invoke("policy", "check", str(tmp_path / "nope.yml"))
    assert missing.exit_code == EXIT_USAGE and "does not exist" in missing.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text("classes: [unclosed\n")
    result = invoke("policy", "check", str(broken), "--json")
    assert result.exit_code == EXIT_USAGE
    assert "broken.yml is not valid YAML" in json.loads(result.stdout)["message"]


def test_policy_explain_match_negation_and_no_class(invoke):
    result = invoke("policy", "explain", "a toddler sipping wine")
    assert result.exit_code == 0, result.output
    assert "unsafe: matches minor_alcohol" in result.stdout
    data = json.loads(
        invoke(
            "policy",
            "explain",
            "a toddler sipping wine",
            "the boy did not drink the beer",
            "a toddler sipping zorbleberry",
            "--json",
        ).stdout
    )
    first, negated, unknown = data["captions"]
    assert first["matched_rules"] == ["minor_alcohol"]
    assert first["tuples"][0]["tuple"]["subject"] == "toddler"
    assert negated["tuples"][0]["negated"] and negated["matched_rules"] == []
    assert negated["tuples"][0]["would_match_if_affirmative"] == ["minor_alcohol"]
    assert "is in no class" in unknown["tuples"][0]["why"]


def test_policy_explain_needs_text_and_a_valid_policy(invoke, tmp_path):
    assert invoke("policy", "explain").exit_code == EXIT_USAGE
    bad = tmp_path / "p.yml"
    bad.write_text("version: 1\n")
    result = invoke("policy", "explain", "--policy", str(bad), "a kid")
    assert result.exit_code == EXIT_FAIL and "classes" in result.stderr


def test_unknown_env_is_bad_input(invoke):
    result = invoke("--env", "nosuchenv", "policy", "explain", "a toddler sipping wine")
    assert result.exit_code == EXIT_USAGE and "unknown environment 'nosuchenv'" in result.stderr


def test_entry_point_dispatch_keeps_relsafe_as_kedro_run():
    from relsafe.__main__ import OPERATOR_COMMANDS, operator_command

    assert set(relsafe.commands) == OPERATOR_COMMANDS
    assert operator_command(["policy", "check"], OPERATOR_COMMANDS)
    assert operator_command(["--env", "lm", "status"], OPERATOR_COMMANDS)
    assert operator_command(["--help"], OPERATOR_COMMANDS)
    assert not operator_command([], OPERATOR_COMMANDS)  # plain `relsafe`: kedro run
    assert not operator_command(["--pipelines", "build_sets"], OPERATOR_COMMANDS)
    assert not operator_command(["--env", "lm"], OPERATOR_COMMANDS)


def test_kedro_finds_the_project_cli_and_its_run_command():
    from kedro.framework.cli.project import run as kedro_run
    from kedro.framework.cli.utils import find_run_command

    import relsafe.cli as project_cli

    assert "relsafe" in project_cli.cli.commands
    assert find_run_command("relsafe") is kedro_run  # `python -m relsafe` still runs pipelines


def test_kedro_relsafe_json_stdout_is_only_json():
    """conf/logging.yml sends every log line to stderr: `kedro relsafe ... --json` pipes."""
    import subprocess
    import sys
    from pathlib import Path

    from tests_support import kedro_env

    kedro = Path(sys.executable).parent / "kedro"
    proc = subprocess.run(
        [str(kedro), "relsafe", "policy", "check", "--json"],
        cwd=PROJECT_ROOT,
        env=kedro_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["rules"], proc.stdout[:500]
    assert "logging configuration" in proc.stderr
