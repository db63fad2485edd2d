"""Where the tests' own files are, wherever a test module sits in tests/ (they mirror lib/'s packages)."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"  # samples written here in each documented form
ROOT = TESTS.parent  # the repository
