"""The literals that name things on the wire and in the session file: which backend a call goes to
(`Kind`), and the body fields backends name their own way (`TokenLimitField`, `EndUserField`, as a
`lib.context.payload.Sampling` carries them). No I/O.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["embedded", "openai", "azure", "compatible"]
# OpenAI's newer models take max_completion_tokens; most compatible servers only max_tokens.
TokenLimitField = Literal["max_tokens", "max_completion_tokens"]
EndUserField = Literal["user", "safety_identifier"]
