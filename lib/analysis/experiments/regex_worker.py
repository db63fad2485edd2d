"""The process that runs test sets' regexes (lib/analysis/experiments/patterns.py starts it and kills it).

Run as a script (`python -I regex_worker.py`): it imports nothing of the app, reads one JSON request a
line on stdin — {"pattern", "text", "ignore_case"} — and writes one JSON answer a line on stdout —
{"match": the matched text or null, "engine": "re2" | "re"} or {"error": a sentence}. It says
{"ready": true} once it can take requests.

RE2 (google-re2) matches every pattern it accepts in time linear in the text, whatever the pattern;
one it refuses (lookaround, backreferences, `\\Z`, a repeat above 1000) is matched by Python's `re`,
which backtracks: the app kills this process when a match outlasts its time limit. Should the app die
first, the CPU limit set before each request ends this process all the same, and a closed stdin ends
it when it is idle.
"""

from __future__ import annotations

import json
import re
import resource
import sys
import warnings
from typing import Any

# A worker that outlives the app, stuck in one match, stops after this much CPU time on it (the app's
# own limit, patterns.MATCH_TIMEOUT_S, is far shorter and kills it first).
CPU_LIMIT_S = 60
# Backtracking keeps a stack that grows with the text: a bounded address space ends the process with a
# MemoryError rather than the machine's memory.
MEMORY_LIMIT = 1 << 30
MATCH_SHOWN = 200  # characters of a match sent back (the verdict quotes 60)

try:
    import re2
except ImportError:  # pragma: no cover - google-re2 is in requirements.txt; `re` alone still works
    re2 = None


def _limit(kind: int, value: int) -> None:
    _, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, hard))


def _compiled(pattern: str, ignore_case: bool, cache: dict[tuple[str, bool], Any]) -> tuple[Any, str]:
    key = (pattern, ignore_case)
    if key not in cache:
        if len(cache) > 64:
            cache.clear()
        cache[key] = _compile(pattern, ignore_case)
    return cache[key]


def _compile(pattern: str, ignore_case: bool) -> tuple[Any, str]:
    if re2 is not None:
        options = re2.Options()
        options.log_errors = False
        options.case_sensitive = not ignore_case
        try:
            return re2.compile(pattern, options), "re2"
        except re2.error:
            pass  # a feature RE2 leaves out: `re` below, under the app's time limit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "possible nested set" and the like: not an answer
        return re.compile(pattern, re.IGNORECASE if ignore_case else 0), "re"


def answer(request: dict[str, Any], cache: dict[tuple[str, bool], Any]) -> dict[str, Any]:
    try:
        compiled, engine = _compiled(request["pattern"], bool(request.get("ignore_case")), cache)
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        return {"error": f"the regex does not compile: {exc}"}
    try:
        found = compiled.search(request["text"])
    except MemoryError:
        return {"error": "the regex needed more than 1 GiB of memory on this answer"}
    except RecursionError:
        return {"error": "the regex recursed too deeply on this answer"}
    return {"match": None if found is None else found.group(0)[:MATCH_SHOWN], "engine": engine}


def main() -> None:
    _limit(resource.RLIMIT_AS, MEMORY_LIMIT)
    cache: dict[tuple[str, bool], Any] = {}
    out = sys.stdout
    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin:
        used = resource.getrusage(resource.RUSAGE_SELF)
        _limit(resource.RLIMIT_CPU, int(used.ru_utime + used.ru_stime) + CPU_LIMIT_S)
        try:
            reply = answer(json.loads(line), cache)
        except Exception as exc:  # a request this script cannot read: said, and the next one is read
            reply = {"error": f"the regex worker failed: {type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
