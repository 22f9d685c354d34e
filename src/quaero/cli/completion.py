"""``quaero completion bash|zsh|fish``: print the shell completion script.

Enable it with ``eval "$(quaero completion bash)"`` in ``~/.bashrc`` (zsh: ``~/.zshrc``;
fish: ``quaero completion fish > ~/.config/fish/completions/quaero.fish``). Commands,
options and choices (``--status``, ``--level`` ...) complete with TAB.
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from .main import cli

__all__ = ["completion"]

SHELLS = ("bash", "zsh", "fish")


@cli.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (eval "$(quaero completion bash)")."""
    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - click ships all three
        raise click.UsageError(f"no completion for {shell}")
    comp = cls(cli, {}, "quaero", "_QUAERO_COMPLETE")
    click.echo(comp.source())
