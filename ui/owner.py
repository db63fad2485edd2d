"""Whose sessions these are: the signed-in user when sign-in is configured, else this browser.

Team mode: when `[auth]` is in the app's secrets (Streamlit's OIDC sign-in, `st.login`), a visitor
signs in first and owns `user:<email>` (or `user:<sub>` for a provider that gives no email).

Single-user default: each browser gets a random token, kept in a cookie (`context_lab_owner`, one
year, SameSite=Lax) and owns `browser:<sha256 of the token>` (the database never holds the token
itself). Streamlit reads cookies (`st.context.cookies`, sent with the page's websocket request) but
has no API to write one: a tiny Components v2 script writes it, once, on the run that made it. Until
the next page load the token lives in the session state; from then on the cookie names the owner.
The first browser of an install claims the sessions saved before sessions had owners.
"""

from __future__ import annotations

import hashlib
import re
import secrets

import streamlit as st

from ui import state

COOKIE = "context_lab_owner"
COOKIE_MAX_AGE_S = 365 * 24 * 3600
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22,64}")

_JS = """
export default function (component) {
  const { data } = component;
  if (!data || !data.token) return;
  const secure = window.location.protocol === "https:" ? "; Secure" : "";
  document.cookie = `${data.name}=${data.token}; path=/; max-age=${data.max_age}; SameSite=Lax${secure}`;
}
"""

_cookie_writer = st.components.v2.component("context_lab_owner_cookie", js=_JS, isolate_styles=False)


def auth_configured() -> bool:
    """Whether sign-in is set up (`[auth]` in .streamlit/secrets.toml): then every owner is a user."""
    try:
        return "auth" in st.secrets
    except FileNotFoundError:  # no secrets file at all
        return False


def signed_in() -> bool:
    return bool(st.user.get("is_logged_in"))


def user_name() -> str | None:
    """The signed-in identity the owner is named by: the email, else the provider's subject id."""
    if not signed_in():
        return None
    return str(st.user.get("email") or st.user.get("sub") or "") or None


def _browser_token() -> str:
    """This browser's token: its cookie's, or one made now (and written to the cookie on this run)."""
    token = st.context.cookies.get(COOKIE)
    if token and _TOKEN.fullmatch(token):
        state.put(state.OWNER_TOKEN, token)
        return token
    token = state.optional_text(state.OWNER_TOKEN)
    if not token:
        token = secrets.token_urlsafe(24)
        state.put(state.OWNER_TOKEN, token)
    return token


def owner() -> str:
    """The owner every session read or write of this browser session acts for."""
    name = user_name()
    if name:
        return f"user:{name}"
    return "browser:" + hashlib.sha256(_browser_token().encode()).hexdigest()[:32]


def keep_cookie() -> None:
    """Write the browser's token into its cookie while the browser does not send it yet."""
    if user_name() is not None:
        return
    token = _browser_token()
    if st.context.cookies.get(COOKIE) != token:
        _cookie_writer(
            key="owner_cookie", data={"name": COOKIE, "token": token, "max_age": COOKIE_MAX_AGE_S}, width="content"
        )


def require_sign_in() -> None:
    """Team mode: a visitor who has not signed in sees only the sign-in button (the script stops)."""
    if auth_configured() and not signed_in():
        st.title("Context Lab")
        st.write("Sign in to see your sessions. Each session belongs to the person who made it.")
        st.button("Sign in", type="primary", on_click=st.login, icon=":material/login:")
        st.stop()


def describe(owner_id: str | None) -> str:
    """How the run log names an owner: a user by name; a browser by the start of its hash."""
    if not owner_id:
        return ""
    kind, _, rest = owner_id.partition(":")
    return rest if kind == "user" else f"browser {rest[:8]}"
