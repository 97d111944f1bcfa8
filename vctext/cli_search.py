"""`vctext search`: the time ranges of one or more videos that match a query (no LLM needed)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from vctext.cli_support import (
    backend_option,
    given_settings,
    handle_errors,
    setting_option,
    verbosity_options,
)


@click.command()
@click.argument(
    "videos", nargs=-1, required=True, metavar="VIDEO...", type=click.Path(path_type=Path)
)
@click.argument("query")
@click.option(
    "-k", "k", type=click.IntRange(min=1), default=5, show_default=True, help="At most K hits."
)
@click.option("--json", "as_json", is_flag=True, help="Print the hits as a JSON list.")
@click.option(
    "--in-order", is_flag=True, help="List the hits in time order (video by video), not best first."
)
@setting_option("profile")
@setting_option("perceivers")
@backend_option
@setting_option("vision_base_url")
@setting_option("fps")
@setting_option("device")
@click.option(
    "--no-cache", is_flag=True, default=False, help="Neither read nor write the perception cache."
)
@verbosity_options
@click.pass_context
@handle_errors
def search(ctx, videos, query, k, as_json, in_order, no_cache, **settings):
    """Find the time ranges of VIDEO(s) that match QUERY, best first.

    Exact words (a sign's "GATE 7", a name) count most; with the bundled embedding model,
    ranges that mean the same in other words are found too. A second search of a video reuses
    its perception and its embedding index from the cache.
    """
    import vctext

    if not query.strip():
        raise click.UsageError("QUERY is empty")
    options = given_settings(ctx, settings, no_cache)
    hits = vctext.search(list(videos), query, k, in_order=in_order, **options)
    if as_json:
        click.echo(json.dumps([h.to_json() for h in hits], ensure_ascii=False, indent=2))
        return
    if not hits:
        click.echo(f"no range matches '{query}'", err=True)
    for hit in hits:
        click.echo(str(hit))
