"""Which slice of a long history the chat page draws.

Streamlit's cost is per element drawn, and every message carries a row of controls (include,
pin, edit, delete): drawing 1,000 of them made a rerun ten times slower than a bare chatbot
(bench/RESULTS.md). So the page draws one page of messages, the newest by default, and pages
back through the older ones. Paging only changes what is drawn: what is sent is decided over the
whole history, and the meter counts all of it.

Pages are counted from the newest (page 0), so the newest page is always full and a new message
lands on it; the oldest page holds what is left over.
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE_SIZES: tuple[int, ...] = (25, 50, 100, 200, 0)  # 0: every message on one page
DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class Page:
    start: int  # index of the first message drawn
    end: int  # one past the last
    number: int  # 0 = the newest page
    count: int  # pages in all (at least 1)
    total: int  # messages in the history

    @property
    def is_newest(self) -> bool:
        return self.number == 0

    @property
    def is_oldest(self) -> bool:
        return self.number == self.count - 1

    @property
    def hidden(self) -> int:
        return self.total - (self.end - self.start)

    def label(self) -> str:
        if self.total == 0:
            return "No messages yet"
        return f"Messages {self.start + 1:,}–{self.end:,} of {self.total:,}"


def page_count(total: int, size: int) -> int:
    if size <= 0 or total <= size:
        return 1
    return -(-total // size)


def page_of(total: int, size: int, number: int) -> Page:
    """Page `number` (0 = newest) of a `total`-message history, `size` messages a page; a number
    out of range (messages were deleted) gives the nearest page there is."""
    count = page_count(total, size)
    number = min(max(number, 0), count - 1)
    if count == 1:
        return Page(0, total, 0, 1, total)
    end = total - number * size
    return Page(max(end - size, 0), end, number, count, total)
