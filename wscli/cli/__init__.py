"""The `wscli` command: a thin click layer over the library; this module registers the
commands on the top-level group (:mod:`wscli.cli.group`).

Only this package imports click and ends the process (:mod:`wscli.cli.entry`): lower
layers raise :class:`~wscli.core.errors.WscliError`, and :func:`main` turns them into one
line on stderr and an exit code.
"""

from __future__ import annotations

from wscli.cli.completion import completion
from wscli.cli.connect import connect
from wscli.cli.entry import main
from wscli.cli.group import cli
from wscli.cli.handshake import handshake
from wscli.cli.proxy import proxy
from wscli.cli.replay import replay
from wscli.cli.serve import serve
from wscli.cli.top import top

for command in (serve, connect, handshake, proxy, replay, top, completion):
    cli.add_command(command)

__all__ = ["cli", "main"]
