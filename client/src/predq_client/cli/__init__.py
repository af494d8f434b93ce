"""The `predq` command: runs the click group and turns every ending into an exit code, never a traceback."""

from __future__ import annotations

import os
import sys

import click

from predq_client.cli.commands import cli
from predq_client.cli.exitcodes import ExitCode, for_error
from predq_client.cli.output import report_refusal, say
from predq_client.cli.session import Exit
from predq_client.errors import PredqError, ProblemError


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns (and exits with) the exit code."""
    code = run(argv)
    sys.exit(int(code))


def run(argv: list[str] | None = None) -> ExitCode:
    as_json = "--json" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="predq", standalone_mode=False)
        return ExitCode.SUCCEEDED
    except Exit as done:
        return done.code
    except click.exceptions.Exit as done:  # --help, --version
        return ExitCode.SUCCEEDED if done.exit_code == 0 else ExitCode.USAGE
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE
    except click.Abort:
        say("interrupted")
        return ExitCode.INTERRUPTED
    except KeyboardInterrupt:
        say("interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:  # `predq results … | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.SUCCEEDED
    except ProblemError as exc:
        say("refused by the service:" if exc.status < 500 else "the service failed:")
        report_refusal(exc, as_json)
        return for_error(exc)
    except (PredqError, OSError) as exc:
        say(f"error: {exc}")
        return for_error(exc)
    except Exception as exc:  # a bug of ours: say so plainly, still no traceback
        say(f"internal error in predq_client ({type(exc).__name__}): {exc}")
        return ExitCode.INTERNAL
