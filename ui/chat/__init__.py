"""The Chat page's glue (pages/chat.py draws through these): `calls` (a call's lifecycle on the page:
send, retry, regenerate, ask again after an edit, stream, stop, show the finished reply) and `history`
(the history drawn with each message's controls, its callbacks, paging, Undo). The reply itself is the
process's (lib/store/chat_replies.py), what it does to the history is lib/context/answers.py's."""
