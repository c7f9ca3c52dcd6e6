"""``tablever ui``: a local, read-only web page over a table's or a warehouse's history.

Needs the ``ui`` extra (``pip install 'tablever[ui]'``: Starlette and uvicorn). The
page is plain HTML, CSS and JavaScript shipped in ``static/``: nothing is fetched from
the network. The JSON endpoints behind it are described in docs/ui.md.
"""

from __future__ import annotations

__all__: list[str] = []
