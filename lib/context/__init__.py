"""What a call carries: the conversation, strategies, the one request builder, the body and its counts,
paging, text made inert for the screen, cache prediction. No I/O (tiktoken's BPE files are read once).
"""
