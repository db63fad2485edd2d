"""The ground floor: the facts every other package needs, and nothing that needs them. The model table
(`models.py`) and prices (`prices.py`, the one cost formula), keys kept out of text (`secrets.py`),
the wire literals (`wire.py`: `Kind`, the body fields a backend names its own way), a call's outcome
with its one `Usage` record (`outcome.py`), every exception the app raises on purpose, in one tree
(`errors.py`), and the one background `Job` (`job.py`: a thread, a stop event, done, the result or
the exception). Imports nothing from lib's other packages.
I/O: none, but reading the price data bundled with the installed `genai-prices` (once, cached).
"""
