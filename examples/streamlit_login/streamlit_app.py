"""An app that signs people in with the sign-in service, as any OpenID Connect relying party would: through
Streamlit's own ``st.login()`` (Authlib underneath), configured in ``server.py``. Nothing of this repository's code
is used: only the provider's discovery document, its authorization, token and end-session endpoints, and the ID
token it signs.
"""

from datetime import UTC, datetime

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
    # How the person proved who they are, as the ID token says: when (auth_time), with what (amr, RFC 8176: "otp"
    # a code, "hwk"/"swk" and "user" a passkey, "mfa" two factors) and at which level (acr).
    auth_time, amr, acr = st.user.get("auth_time"), st.user.get("amr"), st.user.get("acr")
    if isinstance(auth_time, int):
        proven = datetime.fromtimestamp(auth_time, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        st.markdown(f"**Last proved who you are:** {proven} (`auth_time` {auth_time})")
    if isinstance(amr, list):
        st.markdown(f"**With:** `{' '.join(str(method) for method in amr)}` (`amr`)")
    if isinstance(acr, str):
        st.markdown(f"**Level:** `{acr}` (`acr`)")
    # What an app asks before something sensitive: the sign-in again now, or two factors (server.py's providers).
    left, right = st.columns(2)
    if left.button("Sign in again", icon=":material/lock_reset:", width="stretch"):
        st.login("fresh")
    if right.button("Sign in with two factors", icon=":material/shield_lock:", width="stretch"):
        st.login("twofactors")
    # Ends this app's session, then the provider's (its end_session_endpoint), which sends the person back here.
    if st.button("Sign out", icon=":material/logout:"):
        st.logout()
