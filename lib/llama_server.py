"""Entry point of the embedded server's process: llama-cpp-python's server plus a parent watchdog.

`python -m lib.llama_server PARENT_PID [llama_cpp.server arguments…]`. The watchdog ends the
server as soon as the app that started it is gone, whatever thread started it (PR_SET_PDEATHSIG
would fire when the starting thread ends, and Streamlit starts resources in short-lived threads).
"""

from __future__ import annotations

import os
import runpy
import sys
import threading
import time


def _watch(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)
        time.sleep(0.5)


def main() -> None:
    parent_pid = int(sys.argv[1])
    threading.Thread(target=_watch, args=(parent_pid,), daemon=True).start()
    sys.argv = ["llama_cpp.server", *sys.argv[2:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
