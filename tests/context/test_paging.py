from itertools import pairwise

import pytest

from lib.context.paging import DEFAULT_PAGE_SIZE, PAGE_SIZES, page_count, page_of


@pytest.mark.parametrize("size", PAGE_SIZES)
@pytest.mark.parametrize("total", [0, 1, 24, 25, 26, 49, 50, 51, 99, 100, 101, 1_000, 1_001, 5_000])
def test_the_pages_cover_every_message_once_newest_first(total, size):
    pages = [page_of(total, size, number) for number in range(page_count(total, size))]
    drawn = [index for page in pages for index in range(page.start, page.end)]
    assert sorted(drawn) == list(range(total))
    assert len(drawn) == len(set(drawn))
    assert pages[0].end == total  # the newest page holds the newest message
    assert all(page.end - page.start <= (size or total) for page in pages)
    assert all(later.end == earlier.start for earlier, later in pairwise(pages))
    if size and total >= size:
        assert pages[0].end - pages[0].start == size  # the newest page is always full


def test_a_page_number_out_of_range_gives_the_nearest_page():
    assert page_of(120, 50, 7) == page_of(120, 50, 2)
    assert page_of(120, 50, -3) == page_of(120, 50, 0)
    assert page_of(10, 50, 4).number == 0


def test_page_facts():
    newest, oldest = page_of(130, 50, 0), page_of(130, 50, 2)
    assert (newest.start, newest.end, newest.count) == (80, 130, 3)
    assert newest.is_newest and not newest.is_oldest
    assert (oldest.start, oldest.end) == (0, 30) and oldest.is_oldest
    assert newest.hidden == 80 and oldest.hidden == 100
    assert newest.label() == "Messages 81–130 of 130"
    assert page_of(0, 50, 0).label() == "No messages yet"


def test_all_on_one_page():
    page = page_of(5_000, 0, 3)
    assert (page.start, page.end, page.count, page.hidden) == (0, 5_000, 1, 0)


def test_the_default_size_is_one_of_the_choices():
    assert DEFAULT_PAGE_SIZE in PAGE_SIZES
