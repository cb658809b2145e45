"""The page a list asks for: ``PageRequest``, what services and repositories take, and the limits of a page.

No web framework here: the operator's command line lists through the same services. Reading ``pageNum`` /
``itemsPerPage`` / ``includeCount`` from a request and writing ``{links, results, totalCount}`` is
:mod:`atlas_sa.kit.pages`.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_ITEMS_PER_PAGE = 500
# ``pageNum`` is unbounded, but databases take 64-bit offsets (SQLite raises OverflowError past them). Any page that
# far is past the end of every list, so clamping gives the same empty page.
MAX_OFFSET = 2**62
DEFAULT_ITEMS_PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class PageRequest:
    page_num: int = 1
    items_per_page: int = DEFAULT_ITEMS_PER_PAGE
    include_count: bool = True

    @property
    def offset(self) -> int:
        return min((self.page_num - 1) * self.items_per_page, MAX_OFFSET)

    @property
    def limit(self) -> int:
        return self.items_per_page


def first_page_for_zero(page_num: int) -> int:
    """``pageNum=0`` is page 1 (see :mod:`atlas_sa.kit.pages`); validation has already refused negatives."""
    return page_num or 1
