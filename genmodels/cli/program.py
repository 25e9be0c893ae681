"""The `genmodels` program: its commands gathered on one Typer app, the plugins' commands added, and every error a
user can act on turned into one line. TensorFlow is imported only by the commands that need it.

The commands live by group: `catalog` (list, info), `training` (train), `pictures` (sample, reconstruct, interpolate,
latent, curves), `evaluating` (evaluate, features, compare), `exporting` (export) and `serving` (serve); `common` holds the app and
the options they share, `loading` what they load from a run.
"""

from __future__ import annotations

import errno
import os
import sys
import warnings

import typer

# each command module registers its commands on `app` when imported, in this order (that of `genmodels --help`)
from genmodels.cli import catalog, training, pictures, evaluating, exporting, serving  # noqa: F401
from genmodels.cli.common import app, command_name
from genmodels.core.errors import GenmodelsError, GenmodelsWarning
from genmodels.plugins.loader import STRICT_VARIABLE, get_registry
from genmodels.plugins.registry import PluginWarning

__all__ = ["app", "main", "add_plugin_commands"]


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, GenmodelsWarning):
        typer.echo(f"Warning: {message}", err=True)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


# the base class of click's usage errors (a bad option value, a missing argument), whichever click typer uses
_ClickError = next(kind for kind in typer.BadParameter.__mro__ if kind.__name__ == "ClickException")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `genmodels` script, and the one place where errors become messages.

    Every error a user can act on (a GenmodelsError, a usage error, a strict-mode plugin warning,
    an OSError such as a full disk) is printed as one line `Error: ...` on standard error, with
    exit status 1; Ctrl-C exits with 130. Set GENMODELS_DEBUG=1 to see the traceback instead.
    """
    warnings.showwarning = _show_warning
    arguments = sys.argv[1:] if argv is None else argv
    try:
        if "--strict-plugins" in arguments:  # before the registry is built for the plugins' commands
            os.environ[STRICT_VARIABLE] = "1"
        add_plugin_commands(app)
        status = app(args=argv, prog_name="genmodels", standalone_mode=False)
    except _ClickError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `genmodels` alone: show the help (rich has printed it)
            if exc.format_message().strip():
                typer.echo(exc.format_message().rstrip())
            sys.exit(exc.exit_code)
        _fail(f"{exc.format_message()}{_help_hint(exc)}", exc)
    except (GenmodelsError, PluginWarning) as exc:
        _fail(str(exc), exc)
    except OSError as exc:
        _fail(_os_error_message(exc), exc)
    except typer.Abort:
        sys.exit(130)
    sys.exit(status if isinstance(status, int) else 0)


def add_plugin_commands(cli: typer.Typer) -> None:
    """Let every plugin's `register_commands(cli)` add its commands, once per app. A plugin that raises,
    or a command whose name is already taken, is reported (a PluginWarning; an error in strict mode) and left out."""
    if getattr(cli, "_plugin_commands_added", False):
        return
    cli._plugin_commands_added = True
    registry = get_registry()
    for plugin, package, hook in registry.command_hooks:
        before = list(cli.registered_commands)
        source = f"plugin {plugin!r}" + (f" (package {package})" if package else "")
        try:
            hook(cli=cli)
        except Exception as exc:
            cli.registered_commands[:] = before
            registry.problems(f"{source} failed in register_commands: {type(exc).__name__}: {exc}")
            continue
        taken = {command_name(command) for command in before} | {group.name for group in cli.registered_groups}
        for command in cli.registered_commands[len(before) :]:
            if command_name(command) in taken:
                cli.registered_commands.remove(command)
                registry.problems(
                    f"{source} adds the command {command_name(command)!r}, whose name is taken; it was left out"
                )
            taken.add(command_name(command))


def _fail(message: str, exc: BaseException) -> None:
    if os.environ.get("GENMODELS_DEBUG"):
        raise exc
    typer.echo("Error: " + " ".join(line.strip() for line in message.splitlines() if line.strip()), err=True)
    sys.exit(1)


def _help_hint(exc) -> str:
    ctx = getattr(exc, "ctx", None)
    return f" (see {ctx.command_path} --help)" if ctx is not None else ""


def _os_error_message(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"the disk is full: could not write {exc.filename or 'a file'}. Files saved before are unchanged; "
            "free some space and run the command again (a training continues with --resume)."
        )
    reason = exc.strerror or str(exc)
    return f"{reason}: {exc.filename}" if exc.filename else reason


if __name__ == "__main__":
    main()
