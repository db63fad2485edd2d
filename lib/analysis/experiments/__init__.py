"""Experiments: a test set of questions, run across context variants, scored.

The Compare page asks one question under several contexts and leaves the judging to the eye; an
experiment asks many (a test set), under every variant, a few times each, and scores each answer
with checks, so that "which context keeps the answers right, at what cost" is a measured table.

- `cases`: what a test set is (cases, the conversation each is asked in, its checks).
- `checks`: the deterministic checks, bounded whatever the answer; `judge`: the model-graded rubric,
  its output forced to JSON. `patterns`: a check's regex, run in a worker process (`regex_worker`)
  under a time limit, RE2 where the pattern allows it.
- `formats`: CSV, JSONL, YAML and promptfoo's test format in; CSV, JSONL and YAML out.
- `builtin`: the offline set for the embedded model: facts planted at different depths.
- `planner`: every cell's request from the one builder, the order calls are sent in, the estimate.
- `runner`: a run on a thread of its own, each finished call written to SQLite at once; `store`.
- `results`: pass rates, Wilson intervals, the frontier, regressions, the forgetting curve, exports.
- `batch`: the OpenAI Batch API's JSONL, out and back in.
"""
