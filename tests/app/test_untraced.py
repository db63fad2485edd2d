"""`make test` counts the coverage of lib/ by the tests of lib/: the tracer is paused here (tests/conftest.py,
`UNTRACED`), where it made every Streamlit call report to coverage. Nothing traces this test, nor a thread
it starts, as AppTest starts one to run the page. (Without `--cov`, nothing traces anything.)"""

import sys
import threading


def test_an_app_test_and_the_thread_running_its_page_are_not_traced():
    in_thread: list[object] = []
    thread = threading.Thread(target=lambda: in_thread.append(sys.gettrace()))
    thread.start()
    thread.join()
    assert sys.gettrace() is None and in_thread == [None]
