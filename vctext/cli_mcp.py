"""`vctext mcp`: the MCP server, over stdin/stdout for MCP clients to spawn, or over HTTP."""

from __future__ import annotations

import click

from vctext.cli_support import handle_errors, verbosity_options


def _address(ctx: click.Context, param: click.Parameter, value: str | None):
    """HOST:PORT (or PORT, on 127.0.0.1) → (host, port)."""
    if value is None:
        return None
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"'{value}' is not HOST:PORT (e.g. 127.0.0.1:8765)")
    return host, int(port)


@click.command("mcp")
@click.option(
    "--http",
    metavar="HOST:PORT",
    callback=_address,
    default=None,
    help="Serve over streamable HTTP at http://HOST:PORT/mcp instead of stdin/stdout.",
)
@verbosity_options
@handle_errors
def mcp_server(http) -> None:
    """Serve describe / ask / search-in-video tools over MCP on stdin/stdout (or over HTTP).

    For MCP clients to spawn (`"command": "vctext", "args": ["mcp"]`); logs go to stderr.
    With --http, clients connect to http://HOST:PORT/mcp (keep HOST 127.0.0.1 unless the
    network is yours: the tools read files on this machine). Needs the integrations extra:
    pip install "vctext[integrations]".
    """
    from vctext.integrations.mcp_server import serve

    serve(http)
