"""What did this answer use? The attribution panel on an assistant answer (Chat) or a variant's (Compare).

The panel reads the answer and the request that carried its question, calls `lib.analysis.attribution`, and
draws: what a run will take before it runs; then a bar per message of the context (its influence on
this answer), the most influential messages with a sentence each, and the smallest context that
keeps the answer, which the chat can apply as its include toggles, Compare can add as a variant of
its own (exactly those messages, then the question), and either can send to check.

Runs go on a thread of their own (`lib.analysis.attribution.Job`): the panel is a fragment that redraws
itself every second while one runs, so the rest of the page stays usable and a click elsewhere does
not stop it. On the embedded backend the scoring model is a second llama.cpp instance of the same
GGUF, in this process (`scoring_model`, made once).

The modules: `hooks` (where the Chat and Compare pages call in), `panel` (one answer's panel: before,
during and after a run), `results` (a finished attribution drawn), `smallest` (the smallest context and
what can be done with it), `common` (the panel's state, the scorer, a run started). What an attribution
asks, sends and costs is decided in lib/analysis/attribution/ (`answer`: the answer's context, its
fingerprint, the check call; `chat`: the question, the include toggles, the calls' cost).
"""
