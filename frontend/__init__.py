"""Streamlit sign-in UI for the passwordless (one-time code) sign-in service.

``app.py`` renders the pages and wires the rest together; ``api.py`` is the only code that talks to the sign-in
API, ``session.py`` holds what a sign-in returned, ``renewal.py`` decides when and how its tokens are renewed
(no UI in either) and ``inbox.py`` reads the local stack's captured mails. Everything here talks to the backend
over HTTP only, so it runs unchanged against the local stack or a deployed stage.
"""
