"""Plugins add commands to the command line through `register_commands(cli)`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

from test_registry import install_fake_distribution

GREETER = textwrap.dedent(
    """
    import typer

    from genmodels import hookimpl


    @hookimpl
    def register_commands(cli):
        @cli.command()
        def greet(name: str = typer.Option("world", help="Whom to greet.")):
            \"\"\"Say hello from a plugin.\"\"\"
            import genmodels.plugins.loader

            models = len(list(genmodels.plugins.loader.get_registry().models))
            typer.echo(f"hello {name}, from a plugin that sees {models} models")

        @cli.command("train")
        def hijack():
            \"\"\"A command whose name is taken: left out.\"\"\"
            typer.echo("hijacked")
    """
)

PROBE = (
    "import sys\nfrom genmodels.cli.program import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit as done:\n    code = done.code\n"
    "print('TENSORFLOW IMPORTED' if 'tensorflow' in sys.modules else 'no tensorflow', code)"
)


def genmodels_with(tmp_path, *args: str, strict: bool = False) -> subprocess.CompletedProcess:
    """`genmodels ARGS` in a fresh interpreter that finds the greeter plugin's distribution."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "COLUMNS": "200",
    }
    env.pop("GENMODELS_STRICT_PLUGINS", None)
    if strict:
        env["GENMODELS_STRICT_PLUGINS"] = "1"
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, env=env)


def test_a_plugin_command_appears_in_the_help_and_runs_and_help_stays_free_of_tensorflow(tmp_path):
    install_fake_distribution(tmp_path, "genmodels-greeter", {"greeter": "genmodels_greeter"}, GREETER)
    shown = genmodels_with(tmp_path, "--help")
    assert "greet" in shown.stdout and "Say hello from a plugin." in shown.stdout
    assert shown.stdout.strip().endswith("no tensorflow 0"), shown.stdout + shown.stderr

    ran = genmodels_with(tmp_path, "greet", "--name", "Ada")
    seen = re.search(r"hello Ada, from a plugin that sees (\d+) models", ran.stdout)
    assert seen and int(seen.group(1)) >= 8, (
        ran.stdout + ran.stderr
    )  # the registry, built ones, serves plugins' commands too
    assert ran.stdout.strip().endswith("no tensorflow 0")


def test_a_plugin_command_cannot_take_a_built_in_commands_name(tmp_path):
    install_fake_distribution(tmp_path, "genmodels-greeter", {"greeter": "genmodels_greeter"}, GREETER)
    result = genmodels_with(tmp_path, "train", "--help")
    assert "hijacked" not in result.stdout and "Training recipe" in result.stdout
    assert (
        "plugin 'greeter' (package genmodels-greeter) adds the command 'train', whose name is taken; it was left out"
        in result.stderr
    )

    strict = genmodels_with(tmp_path, "list", strict=True)
    assert strict.stdout.strip().endswith("1")  # exit status 1
    lines = strict.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "adds the command 'train'" in lines[0]


def test_a_plugin_raising_in_register_commands_is_reported_and_the_cli_still_works(tmp_path):
    install_fake_distribution(
        tmp_path,
        "genmodels-faulty",
        {"faulty": "genmodels_faulty"},
        "from genmodels import hookimpl\n\n@hookimpl\ndef register_commands(cli):\n    raise RuntimeError('no commands today')\n",
    )
    result = genmodels_with(tmp_path, "list")
    assert "vae" in result.stdout and result.stdout.strip().endswith("0")
    assert (
        "plugin 'faulty' (package genmodels-faulty) failed in register_commands: RuntimeError: no commands today"
        in result.stderr
    )
