"""Streamlit sign-in UI for the passwordless (one-time code) sign-in service.

``server.py`` serves ``app.py`` with the cookie of each browser's session handle (``handle.py``); ``app.py`` picks
the pages, each a module of ``views/``; ``state.py`` types what a browser and a tab have going on, ``ui.py`` holds
what the views share (one way to run a request from a button, notices beside what they concern) and ``flow.py``
the session's life. ``api.py`` and ``admin_api.py`` are the only code that talks to the sign-in API,
``session.py`` holds what a sign-in returned, ``renewal.py`` and ``twostep.py`` decide when and how its tokens are
renewed or upgraded (no UI in either) and ``inbox.py`` reads the local stack's captured mails. Everything here
talks to the backend over HTTP only, so it runs unchanged against the local stack or a deployed stage.
"""
