"""The `polyprompt` command line.

Exit codes: 0 clean (warnings allowed), 1 errors found (or files that `fmt
--check` would change), 2 usage errors. No input makes it print a traceback:
an internal error is reported as one line and exit code 3.
"""
from __future__ import annotations

import sys

import click

from . import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="polyprompt")
def cli() -> None:
    """Write a prompt once; compile it for every platform."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="How to print diagnostics.")
@click.option("--root", type=click.Path(exists=True, file_okay=False), help="Project root for imports.")
def check(paths: tuple[str, ...], fmt: str, root: str | None) -> None:
    """Check .prompt files (folders are searched): syntax, names, imports, types."""
    from .api import check as run_check, prompt_files
    from .compiler.diagnostics import render_all, to_json

    diagnostics = run_check(paths, root=root)
    if fmt == "json":
        click.echo(to_json(diagnostics))
    elif diagnostics:
        click.echo(render_all(diagnostics))
    errors = sum(d.is_error for d in diagnostics)
    warnings = sum(d.severity == "warning" for d in diagnostics)
    if fmt == "text":
        files = len(prompt_files(paths))
        if diagnostics:
            click.echo("")
        click.echo(f"{_count(files, 'file')} checked: {_count(errors, 'error')}, {_count(warnings, 'warning')}",
                   err=True)
    sys.exit(1 if errors else 0)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file would change.")
@click.option("--diff", is_flag=True, help="Print what would change as a unified diff.")
def fmt(paths: tuple[str, ...], check_only: bool, diff: bool) -> None:
    """Format .prompt files in place (idempotent; keeps comments)."""
    import difflib

    from .api import format_file, format_source, prompt_files
    from .compiler.diagnostics import render_all
    from .compiler.span import SourceFile

    failed = False
    if paths == ("-",):
        result = format_source(SourceFile("<stdin>", sys.stdin.read()))
        if result.formatted is None:
            click.echo(render_all(result.diagnostics), err=True)
            sys.exit(1)
        if diff:
            click.echo("".join(difflib.unified_diff(result.original.splitlines(True),
                                                    result.formatted.splitlines(True), "<stdin>",
                                                    "<stdin> (formatted)")), nl=False)
        elif not check_only:
            click.echo(result.formatted, nl=False)
        if (check_only or diff) and result.changed:
            click.echo("would reformat <stdin>", err=True)
            sys.exit(1)
        return
    for path in prompt_files(paths):
        result = format_file(path, write=not (check_only or diff))
        if result.formatted is None:
            click.echo(render_all(result.diagnostics), err=True)
            click.echo(f"error: {path}: not formatted, it has syntax errors", err=True)
            failed = True
            continue
        if not result.changed:
            continue
        if diff:
            click.echo("".join(difflib.unified_diff(result.original.splitlines(True), result.formatted.splitlines(True),
                                                    f"{path}", f"{path} (formatted)")), nl=False)
        if check_only or diff:
            click.echo(f"would reformat {path}", err=True)
            failed = True
        else:
            click.echo(f"reformatted {path}", err=True)
    sys.exit(1 if failed else 0)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def main() -> None:
    try:
        cli.main(prog_name="polyprompt", standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as err:  # a bug: say so in one line, never a traceback
        click.echo(f"polyprompt: internal error: {type(err).__name__}: {err} (please report it)", err=True)
        sys.exit(3)
