"""The admin dashboard as a page of the Streamlit UI (Streamlit lists frontend/pages/ beside frontend/app.py)."""

import sys
from pathlib import Path

# As frontend/app.py: the `frontend` package is imported from the repository root, under streamlit and AppTest.
_REPO_ROOT = str(Path(__file__).resolve().parents[2])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from frontend import admin_page  # noqa: E402

admin_page.main()
