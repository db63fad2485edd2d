"""lib/core/outcome.py: the one Usage record and the one reading of a reply's usage (`usage_of`)."""

from types import SimpleNamespace

from lib.core.outcome import Usage, usage_of


def test_the_sdks_usage_and_a_batch_files_read_the_same():
    sdk = SimpleNamespace(
        prompt_tokens=31, completion_tokens=2, prompt_tokens_details=SimpleNamespace(cached_tokens=16)
    )
    batch = {
        "prompt_tokens": 31,
        "completion_tokens": 2,
        "total_tokens": 33,
        "prompt_tokens_details": {"cached_tokens": 16},
    }
    assert usage_of(sdk) == usage_of(batch) == Usage(31, 2, 16)
    assert usage_of(sdk).source == "server" and not usage_of(sdk).estimated and usage_of(sdk).flag is None
    assert usage_of(None) is None
    no_details = usage_of({"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": "odd"})
    assert no_details == Usage(5, 1, None)


def test_implausible_usage_is_kept_as_said_flagged_and_its_counts_left_out():
    said = usage_of({"prompt_tokens": -5, "completion_tokens": 10**30, "prompt_tokens_details": {"cached_tokens": 3}})
    assert (said.prompt_tokens, said.completion_tokens, said.cached_tokens) == (None, None, None)
    assert "prompt_tokens -5 (negative)" in said.flag and "~10^30" in said.flag
    assert said.reported == {"prompt_tokens": -5, "completion_tokens": 10**30, "cached_tokens": 3}


def test_an_estimate_is_labelled_never_taken_for_the_servers_word():
    counted = Usage.estimate(120, "tiktoken o200k (estimate)")
    assert counted.estimated and counted.label == "tiktoken o200k (estimate)" and counted.prompt_tokens == 120
    assert counted != Usage(120)  # the same count, from elsewhere
