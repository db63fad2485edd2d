"""Scoring one ablated context: how well does it still support the answer?

- `LogprobScorer` (the embedded model): exact. The ablated request's messages are rendered with the
  model's own chat template (`EmbeddedTokenizer.render`, as its server renders them), the answer's
  tokens and its end-of-turn token follow, and the model's logits give the answer's log-probability:
  the sum of the log-softmax at each answer token. It also says whether greedy decoding (after the
  server's repeat penalty) gives this very answer — in this model's arithmetic, where the answer's
  tokens are one batch. The server writes them one at a time, and llama.cpp's kernels for one token
  and for a batch round differently: where two tokens nearly tie, the server can pick the other one
  (bench/RESULTS.md, section 9: 3 of 10 smallest contexts at 30 messages). The same holds between two
  calls of the server itself, whose prompt cache splits a prompt into different batches.
- `RegenerationScorer` (any other backend): providers do not score a given text, so the answer is
  regenerated at temperature 0 under the ablated context (`lib.backends.reply.Reply`) and compared with the
  original: the similarity of their words (`lib.analysis.compare.similarity`), and the caller's checks if any.

`ScoringModel` is the model in process: a second llama.cpp instance of the same GGUF as the server,
8192-token window, evaluating only what a pass does not share with the pass before it. llama.cpp keeps
the keys and values of the tokens it has evaluated; `Llama.eval` itself does not look for a shared
prefix (it evaluates from `n_tokens` on, dropping the cache after it; only `Llama.generate` matches
prefixes), so `evaluate` finds the shared prefix, truncates the cache there and evaluates the rest.
Logits are asked for at the answer's positions only: `logits_all=True` would compute the vocabulary
projection for every prompt token too, and keep an n_ctx × 49,152 float array.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from lib.analysis.attribution.context import AnswerContext, Mask
from lib.analysis.compare import similarity
from lib.backends.embedded import CONTEXT_WINDOW, EmbeddedTokenizer, gguf_path, usable_cores
from lib.backends.reply import Reply
from lib.context.payload import RequestPlan
from lib.core.errors import ScoringError
from lib.core.outcome import CallOutcome

Measure = Literal["logprob", "similarity"]
# The embedded server's sampler at temperature 0 (llama-cpp-python's defaults): greedy, after a repeat
# penalty of 1.1 on the tokens of the last 64 it generated (not the prompt's).
SERVER_REPEAT_PENALTY = 1.1
SERVER_PENALTY_LAST_N = 64
N_BATCH = 512


@dataclass(frozen=True)
class PassScore:
    kept: Mask
    value: float  # the answer's log-probability in nats (logprob), or its similarity to the answer (0-1)
    prompt_tokens: int  # the prompt as sent
    evaluated_tokens: int  # tokens the model evaluated for this pass (in process: after the shared prefix)
    reused_tokens: int  # prompt tokens taken from the cache (in process: the prefix; a server: as reported)
    seconds: float
    greedy: bool | None = None  # logprob: temperature 0 on the embedded server gives this very answer
    text: str | None = None  # similarity: the answer regenerated without the left-out units
    check: bool | None = None  # similarity with checks: the regenerated answer passes them
    answer_tokens: int = 0


class Scorer(Protocol):
    measure: Measure

    def begin(self) -> None:
        """Before a run: forget any state a previous run left (a run scores the same from any start)."""

    def score(self, context: AnswerContext, kept: Mask) -> PassScore: ...


@dataclass(frozen=True)
class Evaluation:
    logprobs: tuple[float, ...]  # of each scored token
    greedy: bool  # every scored token is the one the server's temperature-0 sampler picks
    evaluated: int
    reused: int


class ScoringModel:
    """The embedded model in process, for scoring. One evaluation at a time (`lock`)."""

    def __init__(self, model_path: Path | None = None, n_ctx: int = CONTEXT_WINDOW, threads: int = 0):
        from llama_cpp import Llama

        threads = threads or usable_cores()
        self._llama = Llama(
            str(model_path or gguf_path()),
            n_ctx=n_ctx,
            n_batch=N_BATCH,
            n_ubatch=N_BATCH,
            logits_all=False,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        self.n_ctx = n_ctx
        self.n_vocab = self._llama.n_vocab()
        self.eos = self._llama.token_eos()
        self.lock = threading.Lock()
        self.reuse_prefix = True  # False: every pass from scratch (the baseline bench/attribution.py measures)
        self._text_tokens = lru_cache(maxsize=256)(self._tokenize_text)

    def reset(self) -> None:
        """Forget the cached prefix: the next evaluation starts from the first token."""
        self._llama.n_tokens = 0
        self._llama._ctx.kv_cache_seq_rm(-1, 0, -1)

    def prompt_tokens(self, prompt: str, added_special: bool) -> list[int]:
        return self._llama.tokenize(prompt.encode("utf-8"), add_bos=not added_special, special=True)

    def _tokenize_text(self, text: str) -> tuple[int, ...]:
        # A model's (or user's) text is text: "<|im_end|>" in it is not the end-of-turn token.
        return tuple(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def answer_tokens(self, answer: str) -> tuple[int, ...]:
        """The answer as the model would continue the prompt with it, and its end of turn."""
        return (*self._text_tokens(answer), self.eos)

    def _shared_prefix(self, tokens: list[int], limit: int) -> int:
        cached = min(self._llama.n_tokens, limit) if self.reuse_prefix else 0
        if cached <= 0:
            return 0
        differs = np.nonzero(self._llama.input_ids[:cached] != np.asarray(tokens[:cached], dtype=np.intc))[0]
        return int(differs[0]) if len(differs) else cached

    def evaluate(self, prompt: list[int], answer: tuple[int, ...]) -> Evaluation:
        """The log-probability of each `answer` token after `prompt` (and what came before it)."""
        tokens = [*prompt, *answer]
        if len(tokens) > self.n_ctx:
            raise ScoringError(f"The prompt and the answer are {len(tokens):,} tokens: over the {self.n_ctx:,} window.")
        first_out = len(prompt) - 1  # the logits at position p predict token p + 1
        llama, ctx = self._llama, self._llama._ctx
        with self.lock:
            # The prompt's last position is evaluated again even when cached: its logits are needed.
            same = self._shared_prefix(tokens, first_out)
            ctx.kv_cache_seq_rm(-1, same, -1)
            llama.n_tokens = same
            rows: list[np.ndarray] = []
            for start in range(same, len(tokens), N_BATCH):
                chunk = tokens[start : start + N_BATCH]
                batch = llama._batch.batch
                batch.n_tokens = len(chunk)
                wanted = 0
                for k, token in enumerate(chunk):
                    position = start + k
                    out = first_out <= position < len(tokens) - 1
                    batch.token[k], batch.pos[k], batch.n_seq_id[k] = token, position, 1
                    batch.seq_id[k][0] = 0
                    batch.logits[k] = out
                    wanted += out
                ctx.decode(llama._batch)
                if wanted:
                    rows.append(np.ctypeslib.as_array(ctx.get_logits(), shape=(wanted, self.n_vocab)).copy())
                llama.input_ids[start : start + len(chunk)] = chunk
                llama.n_tokens = start + len(chunk)
        logits = np.concatenate(rows) if rows else np.empty((0, self.n_vocab), dtype=np.float32)
        logprobs, greedy = _score_rows(logits, answer)
        return Evaluation(logprobs, greedy, len(tokens) - same, same)


def _score_rows(logits: np.ndarray, answer: tuple[int, ...]) -> tuple[tuple[float, ...], bool]:
    """Log-softmax of each answer token, and whether the server's temperature-0 sampler picks each one."""
    rows = np.arange(len(answer))
    chosen = np.asarray(answer, dtype=np.int64)
    peak = logits.max(axis=1)
    log_norm = peak.astype(np.float64) + np.log(np.exp(logits - peak[:, None]).sum(axis=1, dtype=np.float64))
    logprobs = logits[rows, chosen].astype(np.float64) - log_norm
    for k in range(1, len(answer)):  # the repeat penalty, on the tokens this answer has produced so far
        seen = np.unique(chosen[max(0, k - SERVER_PENALTY_LAST_N) : k])
        row = logits[k, seen]
        logits[k, seen] = np.where(row > 0, row / SERVER_REPEAT_PENALTY, row * SERVER_REPEAT_PENALTY)
    greedy = bool((logits.argmax(axis=1) == chosen).all())
    return tuple(float(v) for v in logprobs), greedy


class LogprobScorer:
    """Exact scores from the embedded model's own logits over its chat template."""

    measure: Measure = "logprob"

    def __init__(self, model: ScoringModel, tokenizer: EmbeddedTokenizer):
        self.model, self.tokenizer = model, tokenizer

    def begin(self) -> None:
        with self.model.lock:
            self.model.reset()

    def prompt_of(self, plan: RequestPlan) -> list[int]:
        prompt, added_special = self.tokenizer.render(plan.body["messages"])
        return self.model.prompt_tokens(prompt, added_special)

    def score(self, context: AnswerContext, kept: Mask) -> PassScore:
        started = time.perf_counter()
        plan = context.request_for(kept).plan  # exactly what the chat would send for this context
        prompt = self.prompt_of(plan)
        answer = self.model.answer_tokens(context.answer)
        result = self.model.evaluate(prompt, answer)
        return PassScore(
            kept,
            math.fsum(result.logprobs),
            len(prompt),
            result.evaluated,
            result.reused,
            time.perf_counter() - started,
            greedy=result.greedy,
            answer_tokens=len(answer),
        )


@dataclass
class RegenerationScorer:
    """Scores by regenerating: one call per pass, at the context's sampling (give it temperature 0)."""

    client: object
    secrets: tuple[str, ...] = ()
    check: Callable[[str], bool] | None = None  # the answer's checks (experiments), where it has them
    measure: Measure = "similarity"
    calls: list[tuple[RequestPlan, CallOutcome]] = field(default_factory=list)  # for the run log

    def begin(self) -> None:
        pass

    def score(self, context: AnswerContext, kept: Mask) -> PassScore:
        started = time.perf_counter()
        plan = context.request_for(kept).plan
        reply = Reply(self.client, plan.body, self.secrets)
        text = reply.text()
        outcome = reply.outcome
        self.calls.append((plan, outcome))
        if not outcome.ok:
            raise ScoringError(outcome.error or "The call failed.")
        usage = outcome.usage
        return PassScore(
            kept,
            similarity(context.answer, text),
            plan.prompt_tokens,
            usage.prompt_tokens or plan.prompt_tokens,
            usage.cached_tokens or 0,
            time.perf_counter() - started,
            text=text,
            check=self.check(text) if self.check else None,
            answer_tokens=usage.completion_tokens or 0,
        )
