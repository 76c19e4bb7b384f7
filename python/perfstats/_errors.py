"""Errors that name the caller's arguments: Python keywords in Python, flags in the CLI.

An :class:`ArgumentError` is a ValueError whose text names Python arguments
(``units={"timestamp": "ms"}``); it also carries the structured parts (the field and
each argument it mentions, spelt both ways) so that the command line can say the same
thing with its flags (``--units timestamp=ms``) without parsing the message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Arg", "ArgumentError", "UnknownNameError", "braces"]


@dataclass(frozen=True)
class Arg:
    """One argument mentioned in a message, as Python and as the command line spell it."""

    python: str
    cli: str


class ArgumentError(ValueError):
    """A ValueError whose message mentions arguments of the call.

    ``template`` holds ``{0}``, ``{1}`` ... for the arguments in ``args``; ``field``
    names the input field (column) the error is about, when there is one.

    Examples
    --------
    >>> e = ArgumentError("pass {0}", Arg('units={"timestamp": "ms"}',
    ...                   "--units timestamp=ms"), field="timestamp")
    >>> str(e), e.cli_message(), e.field
    ('pass units={"timestamp": "ms"}', 'pass --units timestamp=ms', 'timestamp')
    """

    def __init__(self, template: str, *args: Arg, field: str | None = None) -> None:
        self.template = template
        self.arguments: tuple[Arg, ...] = args
        self.field = field
        super().__init__(template.format(*(a.python for a in args)))

    def cli_message(self) -> str:
        """The message with command-line flags instead of Python arguments."""
        return self.template.format(*(a.cli for a in self.arguments))


class UnknownNameError(ArgumentError):
    """A name (column, group, metric) that the data does not have; ``known`` lists the
    names that exist.

    Examples
    --------
    >>> e = UnknownNameError("endpont", ["endpoint", "model"], Arg("by=", "--by"))
    >>> str(e)
    "by= names 'endpont', which is not a column; the columns are: endpoint, model"
    >>> e.cli_message()
    "--by names 'endpont', which is not a column; the columns are: endpoint, model"
    """

    def __init__(
        self,
        name: str,
        known: Sequence[str],
        arg: Arg,
        *,
        what: str = "column",
        source: str | None = None,
    ) -> None:
        self.name = name
        self.known = list(known)
        prefix = f"{source}: " if source else ""
        listed = ", ".join(self.known) if self.known else "(none)"
        template = (
            _escape(prefix)
            + "{0}"
            + _escape(
                f" names {name!r}, which is not a {what}; the {what}s are: {listed}"
            )
        )
        super().__init__(template, arg, field=name)


def braces(text: str) -> str:
    """`text` escaped for use in an :class:`ArgumentError` template.

    Examples
    --------
    >>> braces("{a}")
    '{{a}}'
    """
    return text.replace("{", "{{").replace("}", "}}")


_escape = braces
