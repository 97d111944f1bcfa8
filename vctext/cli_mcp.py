"""`vctext mcp`: the MCP server over stdin/stdout, for MCP clients to spawn."""

from __future__ import annotations

import click

from vctext.cli_support import handle_errors, verbosity_options


@click.command("mcp")
@verbosity_options
@handle_errors
def mcp_server() -> None:
    """Serve describe / ask / search-in-video tools over MCP on stdin/stdout.

    For MCP clients to spawn (`"command": "vctext", "args": ["mcp"]`); logs go to stderr.
    Needs the integrations extra: pip install "vctext[integrations]".
    """
    from vctext.integrations.mcp_server import serve

    serve()
