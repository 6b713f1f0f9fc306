"""What ``make run`` serves: the UI (frontend/app.py) as a Streamlit ASGI app, with the middleware that gives each
browser the ``HttpOnly`` cookie of its session handle (:class:`frontend.handle.HandleCookie`) and the one that
forbids other sites to frame its pages (:class:`frontend.framing.NoFraming`).

``streamlit run frontend/server.py`` finds ``app`` and serves it; so does any ASGI server (``uvicorn
frontend.server:app``) from the repository root.
"""

import sys
from pathlib import Path

# As frontend/app.py: the `frontend` package is imported from the repository root however this is started.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import streamlit as st  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from frontend.framing import NoFraming  # noqa: E402
from frontend.handle import HandleCookie  # noqa: E402

MIDDLEWARE = [Middleware(NoFraming), Middleware(HandleCookie)]
app = st.App(Path(__file__).with_name("app.py"), middleware=MIDDLEWARE)
