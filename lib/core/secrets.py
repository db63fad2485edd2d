"""Keys kept out of what is shown, kept and exported: the user's keys (whole, or any run of
KEY_FRAGMENT characters of one a server or a model echoes) and anything shaped like a key.

`redact` is for text meant for display (a server's error message); `mask_secrets` / `SecretMasker`
for a model's reply, whole or arriving in pieces; `masked_json` for JSON text a key may have got into.
No I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

# Servers that check no key still need a non-empty one for the SDK.
PLACEHOLDER_KEY = "not-needed"
# Keys the local servers' own guides tell everyone to use: not secrets, so not masked out of text
# (masking "ollama" would blank the word out of every reply about Ollama).
PUBLIC_KEYS = frozenset({PLACEHOLDER_KEY, "ollama", "lm-studio", "EMPTY", "sk-no-key-required", "none", "dummy"})

_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-*]{3,}|[A-Fa-f0-9]{32,})\b")
# Servers echo part of a rejected key ("Incorrect API key provided: abcd1234…"), and a model can be
# talked into echoing any part of one: a run this long copied from the key is masked too. Keys are
# random, so a chance match this long does not happen.
KEY_FRAGMENT = 6
MASK = "***"


def is_secret(value: str) -> bool:
    """Whether `value` (a key) must be kept out of what is shown, stored and exported."""
    return len(value) >= 4 and value not in PUBLIC_KEYS


def _fragments(secrets: Iterable[str]) -> dict[int, frozenset[str]]:
    """Every run of KEY_FRAGMENT characters of each secret (all of a shorter one), by length."""
    runs: dict[int, set[str]] = {}
    for secret in secrets:
        if is_secret(secret):
            size = min(KEY_FRAGMENT, len(secret))
            runs.setdefault(size, set()).update(secret[i : i + size] for i in range(len(secret) - size + 1))
    return {size: frozenset(pieces) for size, pieces in runs.items()}


def _mark(text: str, fragments: dict[int, frozenset[str]], masked: bytearray) -> None:
    """Set `masked[i]` for every character of `text` inside a fragment."""
    for size, pieces in fragments.items():
        for piece in pieces:
            at = text.find(piece)
            while at >= 0:
                masked[at : at + size] = b"\x01" * size
                at = text.find(piece, at + 1)


def _masked(text: str, masked: bytearray, start: int, end: int, inside: bool) -> tuple[str, bool]:
    """text[start:end] with each run of masked characters one MASK (none where the run goes on from
    before `start`, when `inside`), and whether it ends inside a run."""
    out, position = [], start
    while position < end:
        if masked[position]:
            if not inside:
                out.append(MASK)
            stop = masked.find(0, position, end)
            position, inside = (end if stop < 0 else stop), True
        else:
            stop = masked.find(1, position, end)
            stop = end if stop < 0 else stop
            out.append(text[position:stop])
            position, inside = stop, False
    return "".join(out), inside


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """`text` with each secret, and each run of KEY_FRAGMENT or more characters copied from one,
    replaced by MASK (overlapping and touching runs by one). For a model's reply, before it is shown,
    kept or stored; it leaves key-shaped strings that are no known key alone (see `redact`)."""
    fragments = _fragments(secrets)
    if not fragments or not any(piece in text for pieces in fragments.values() for piece in pieces):
        return text
    masked = bytearray(len(text))
    _mark(text, fragments, masked)
    return _masked(text, masked, 0, len(text), False)[0]


class SecretMasker:
    """`mask_secrets` for a text arriving in pieces: `feed` each piece, then `finish`; what they
    return, joined, is `mask_secrets` of the whole. The last KEY_FRAGMENT - 1 characters wait for the
    next piece, which may make them part of a fragment."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._fragments = _fragments(secrets)
        self._held = max(self._fragments, default=1) - 1
        self._pending = ""  # not returned yet: the held characters, then the new piece
        self._masked = bytearray()
        self._inside = False  # whether what was returned ends inside a masked run

    def feed(self, piece: str) -> str:
        if not self._fragments:
            return piece
        # A fragment not seen yet ends in the new piece, so it starts among the pending characters.
        self._pending += piece
        self._masked += bytes(len(piece))
        _mark(self._pending, self._fragments, self._masked)
        return self._release(len(self._pending) - self._held)

    def finish(self) -> str:
        return self._release(len(self._pending))

    def _release(self, end: int) -> str:
        if end <= 0:
            return ""
        out, self._inside = _masked(self._pending, self._masked, 0, end, self._inside)
        self._pending, self._masked = self._pending[end:], self._masked[end:]
        return out


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove keys from text meant for display: the user's own (whole or any part of it a server
    echoes), and anything shaped like one."""
    return _KEY_PATTERN.sub(MASK, mask_secrets(text, secrets))


def masked_json(text: str, secrets: tuple[str, ...]) -> str:
    """JSON text with every occurrence of a secret, as it is or as JSON escapes it (a key holding a
    quote or a backslash), replaced by MASK."""
    for secret in (s for s in secrets if len(s) >= 4):
        text = text.replace(json.dumps(secret)[1:-1], MASK).replace(secret, MASK)
    return text
