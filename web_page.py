"""The in-browser page beside the Gradio app: served at /web/ and linked from the app's page.

The page itself is web/ (see scripts/build_web.py, which builds it into build/web/); this module
only serves that folder from `python app.py` and adds the link, so that app.py changes by two lines.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

ROOT = Path(__file__).resolve().parent
WEB_DIR = Path(os.environ.get("CERVIX_UNET_WEB_DIR", ROOT / "build" / "web"))
WEB_PATH = "/web"
LINK = (
    "**Run on this device:** [the same model inside your browser](web/): the photo never leaves your computer "
    "or phone, and the page works offline once loaded."
)
NOT_BUILT = (
    "<!doctype html><title>cervix-unet on this device</title><p>The in-browser page has not been built on "
    "this server. Run <code>bash scripts/setup.sh</code>, or <code>.venv/bin/python scripts/build_web.py"
    "</code>, and reload.</p>"
)


# Cross-origin isolation lets ONNX Runtime Web use threads (SharedArrayBuffer): about 1.6x faster on 2 cores.
# Every file of the page is same-origin, so nothing else changes. A plain static host runs it on 1 thread.
ISOLATION = [(b"cross-origin-opener-policy", b"same-origin"), (b"cross-origin-embedder-policy", b"require-corp")]


class WebFolder:
    """The built page as static files (index.html at /web/), cross-origin isolated, or a page saying
    how to build it."""

    def __init__(self, folder: Path = WEB_DIR) -> None:
        self.folder = folder
        self.files = StaticFiles(directory=folder, html=True, check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (self.folder / "index.html").is_file():
            await HTMLResponse(NOT_BUILT, status_code=404)(scope, receive, send)
            return

        async def isolated(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *ISOLATION]}
            await send(message)

        await self.files(scope, receive, isolated)


def web_routes() -> list[Mount]:
    """The route for ``demo.launch(app_kwargs={"routes": web_routes()})``."""
    return [Mount(WEB_PATH, app=WebFolder(), name="web")]


def add_web_link(demo) -> None:  # noqa: ANN001 (a gr.Blocks; Gradio is imported by the app, not here)
    """Append the "run on this device" link to the Gradio page."""
    import gradio as gr

    with demo:
        gr.Markdown(LINK, elem_id="run-on-this-device")
