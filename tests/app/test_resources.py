"""What the app keeps for the life of the process is kept out of the post-run garbage collection."""

import gc

from ui import resources


def test_a_run_freezes_what_was_loaded_for_good_and_a_later_run_nothing_more(app, monkeypatch):
    # Streamlit collects every tracked object after each run; what earlier runs loaded (modules, the
    # embedded tokenizer) is frozen so that collection skips it.
    gc.unfreeze()
    monkeypatch.setattr(resources, "_modules_when_frozen", 0)
    app.run()
    assert not app.exception, app.exception
    assert gc.get_freeze_count() > 50_000  # the app's modules and the tokenizer's vocabulary at least

    # Nothing newly imported: the session's own objects are left to the collector, run after run.
    gc.unfreeze()
    app.run()
    assert not app.exception, app.exception
    assert gc.get_freeze_count() == 0
