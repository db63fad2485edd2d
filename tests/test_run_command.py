"""Where the app listens, checked on the running server: `make run` (the README's command) and a bare
`streamlit run app.py` listen on this machine only unless told; CONTEXT_LAB_HOST exposes it.
The command is the Makefile's own (`make -n` prints it without running anything); the listening
sockets are read from the kernel (/proc/net/tcp, tcp6)."""

import ipaddress
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _make_command(port: int, env: dict[str, str]) -> list[str]:
    """The line `make run` would run to start the server (printed by `make -n`, nothing executed)."""
    printed = subprocess.run(
        ["make", "-n", "run", f"PORT={port}"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    line = next(line for line in printed.splitlines() if "streamlit run" in line)
    words = shlex.split(line)
    return [sys.executable, "-m", "streamlit", *words[1:]]  # the shared venv's streamlit, same arguments


def _listening(port: int) -> set[str]:
    """The local addresses the kernel has a listening TCP socket on `port` for."""
    found = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        if not Path(table).exists():
            continue
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word in host (little-endian) order
            ordered = b"".join(raw[i : i + 4][::-1] for i in range(0, width, 4))
            found.add(str(ipaddress.ip_address(ordered)))
    return found


def _served_on(command: list[str], port: int, env: dict[str, str]) -> set[str]:
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("the app did not start") from None
                time.sleep(0.2)
        return _listening(port)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CONTEXT_LAB_HOST", "HOST")}
    return {**env, **extra}


def test_make_run_listens_on_this_machine_only_and_says_how_to_expose_it():
    port = _free_port()
    printed = subprocess.run(
        ["make", "-n", "run", f"PORT={port}"], cwd=ROOT, env=_env(), capture_output=True, text=True, check=True
    ).stdout
    assert "this machine only" in printed and "HOST=0.0.0.0 make run" in printed
    assert _served_on(_make_command(port, _env()), port, _env()) == {"127.0.0.1"}


def test_context_lab_host_exposes_it():
    port = _free_port()
    env = _env(CONTEXT_LAB_HOST="0.0.0.0")
    assert _served_on(_make_command(port, env), port, env) == {"0.0.0.0"}


def test_a_bare_streamlit_run_listens_on_this_machine_only():
    port = _free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
    assert _served_on(command, port, _env()) == {"127.0.0.1"}
