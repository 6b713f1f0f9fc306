"""An app that signs people in with the sign-in service, as any OpenID Connect relying party would: through
Streamlit's own ``st.login()`` (Authlib underneath), configured in ``server.py``. Nothing of this repository's code
is used: only the provider's discovery document, its authorization, token and end-session endpoints, and the ID
token it signs.
"""

import streamlit as st

st.set_page_config(page_title="Example app", page_icon=":material/apps:", layout="centered")
st.title("Example app")

if not st.user.is_logged_in:
    st.write("This app has no accounts of its own: it signs you in with the sign-in service.")
    # To the provider's authorization endpoint, which sends the person to the sign-in UI and then back here.
    if st.button("Sign in", type="primary", icon=":material/login:"):
        st.login()
else:
    # From the ID token's claims: the service signed it (RS256), and Authlib checked it against its JWKS.
    st.write("You are signed in as:")
    st.code(str(st.user.email), language=None)
    # Ends this app's session, then the provider's (its end_session_endpoint), which sends the person back here.
    if st.button("Sign out", icon=":material/logout:"):
        st.logout()
