"""Help that reads cleanly.

Typer's Rich help prints a type placeholder (``<bool>``, ``<str>``, ``<list[str]>``)
beside every parameter, whatever its metavar, and ``{PATH}`` for a required argument in
the usage line. tablever's help shows a flag alone, an option with its metavar
(``--where SQL``), and an argument by its name (``PATH``, ``[REF]``). Typer builds its
own parameter objects with no hook for another class, so the command classes below
give those objects the classes that say so, when Click asks a command for its
parameters (the help option and the completion options included).
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

__all__ = ["HelpCommand", "HelpGroup"]


class _Option(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        return self.metavar or (self.name or "VALUE").upper()


class _Argument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the name column already shows the metavar

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = self.display_name_raw + ("..." if self.nargs != 1 else "")
        return [name if self.required else f"[{name}]"]


def _plain_params(params: list[Any]) -> list[Any]:
    for param in params:
        if type(param) is TyperOption:
            param.__class__ = _Option
        elif type(param) is TyperArgument:
            param.__class__ = _Argument
    return params


class HelpCommand(TyperCommand):
    """A verb whose help shows flags alone and options with their metavar."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_params(super().get_params(ctx))


class HelpGroup(TyperGroup):
    """A group (the root app, a sub-group) whose help reads as :class:`HelpCommand`'s."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_params(super().get_params(ctx))
