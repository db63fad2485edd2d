"""lib/core/errors.py: one exception tree, in one module, drawn in its docstring."""

import inspect
import re

from lib.analysis.experiments import store as experiments_store
from lib.core import errors
from lib.store import storage

CLASSES = {
    name: value
    for name, value in vars(errors).items()
    if inspect.isclass(value) and issubclass(value, Exception) and value.__module__ == errors.__name__
}


def test_the_docstring_draws_every_class_under_its_parent():
    drawn = re.findall(r"^\s*(?:[│ ]*[├└]── )?([A-Z]\w+)\s", errors.__doc__ or "", re.M)
    assert set(drawn) >= set(CLASSES)
    for name, cls in CLASSES.items():
        assert cls is errors.ContextLabError or issubclass(cls, errors.ContextLabError), name
        assert cls.__doc__, f"{name} says what it means"


def test_the_builtins_callers_have_always_caught_still_catch_them():
    for name in (
        "BadStoreUrl",
        "NotYours",
        "InvalidSession",
        "DamagedSession",
        "DocumentError",
        "InvalidComparison",
        "InvalidTestSet",
        "InvalidBatchFile",
        "AttributionError",
        "TemplateLayoutError",
    ):
        assert issubclass(CLASSES[name], ValueError), name
    for name in ("EmbeddedModelError", "ServerTokenizerError", "OfflineEncodingError", "ScoringError"):
        assert issubclass(CLASSES[name], RuntimeError), name


def test_one_not_yours_for_sessions_test_sets_and_runs():
    """Two unrelated classes were both called NotYours: one now, whichever store raises it."""
    assert storage.NotYours is experiments_store.NotYours is errors.NotYours
    refused = errors.NotYours("test set", "abc")
    assert str(refused) == "The test set abc belongs to someone else: nothing of it was given or changed."
    assert (refused.what, refused.item_id) == ("test set", "abc")


def test_the_store_failed_tuple_is_one_name():
    assert errors.BadStoreUrl in errors.STORE_FAILED and OSError in errors.STORE_FAILED
    assert not hasattr(storage, "STORE_ERRORS")
