"""``gateway serve``: the read-only public service (Open311, announcements, the residents' page, the
operators' lookup) on uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.cli.app import app, console, database


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on (0: any free port)")] = 8000,
) -> None:
    """Serve the public data over HTTP: the residents' page at /, Open311 at /open311/v2/, docs at /docs."""
    import uvicorn

    from gateway.db import database_url
    from gateway.public.app import create_app

    url = database_url(database())  # refuses a missing GATEWAY_DATABASE_URL with a sentence
    console(stderr=True).print(f"serving the public data on http://{host}:{port}/ (API docs at /docs)")
    uvicorn.run(create_app(url), host=host, port=port, log_level="info")
