"""Where a call goes and how: one object per backend, the call path through the openai SDK, replies,
retries, errors, the embedded server, model facts and prices. Network and subprocesses.
"""
