"""The filters that go into a Typesense search, without I/O."""

import pytest

from shared.search.index import SearchFilter, filter_expression


def test_kanban_and_status_filters_match_exactly():
    where = SearchFilter(account_id="account_1", kanban_ids=["kanban_1_a", "kanban_2_b"], status="new")
    assert filter_expression(where) == "kanbanId:=[`kanban_1_a`,`kanban_2_b`] && status:=`new`"


def test_no_filters_is_an_empty_expression():
    assert filter_expression(SearchFilter(account_id="account_1", kanban_ids=None, status=None)) == ""


@pytest.mark.parametrize("where", [
    SearchFilter(account_id="a", kanban_ids=["k` || accountId:!=`x"], status=None),
    SearchFilter(account_id="a", kanban_ids=None, status="new\\` || x"),
])
def test_values_that_could_leave_their_quotes_are_refused(where):
    with pytest.raises(ValueError):
        filter_expression(where)
