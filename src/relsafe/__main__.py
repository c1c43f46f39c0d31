"""relsafe file for ensuring the package is executable
as `relsafe` and `python -m relsafe`

``relsafe <command>`` runs an operator command (:mod:`relsafe.cli`: policy, probe, compare,
status, run); anything else (``relsafe``, ``relsafe --pipelines build_sets``) is ``kedro run``,
as before.
"""

import os
import sys
from pathlib import Path
from typing import Any

#: The operator commands (relsafe.cli), known before Kedro is imported so that their logging
#: can go to stderr (Kedro configures logging when it is first imported).
OPERATOR_COMMANDS = {"policy", "probe", "compare", "status", "run"}
CLI_LOGGING = Path(__file__).parent / "cli_logging.yml"
#: Options of the ``relsafe`` group that take a value (skipped when looking for the command).
GROUP_VALUE_OPTIONS = ("-e", "--env")


def operator_command(argv: list[str], commands: set[str]) -> bool:
    """True when ``argv`` names an operator command (or asks for the group's help)."""
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in GROUP_VALUE_OPTIONS:
            i += 2
            continue
        if token.startswith("--env="):
            i += 1
            continue
        if token in ("-h", "--help"):
            return True
        return token in commands
    return False


def main(*args, **kwargs) -> Any:
    argv = list(args[0]) if args and args[0] is not None else sys.argv[1:]
    operator = operator_command(argv, OPERATOR_COMMANDS)
    if operator and "run" not in argv[:3]:
        os.environ.setdefault("KEDRO_LOGGING_CONFIG", str(CLI_LOGGING))

    from kedro.framework.cli.utils import find_run_command
    from kedro.framework.project import configure_project

    package_name = Path(__file__).parent.name
    configure_project(package_name)

    interactive = hasattr(sys, "ps1")
    kwargs["standalone_mode"] = not interactive

    if operator:
        from relsafe.cli import relsafe as operator_cli

        return operator_cli.main(argv, prog_name="relsafe", **kwargs)
    run = find_run_command(package_name)
    return run(*args, **kwargs)


if __name__ == "__main__":
    main()
