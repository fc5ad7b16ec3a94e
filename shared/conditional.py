"""Conditional requests on records and kanbans (RFC 9110, section 13.1): the ETag of an item's version,
the If-Match and If-None-Match headers, and the 304 answer."""

import re
from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Header

from shared.models.domain import Kanban, Record, VersionCondition

ETAG = "ETag"
IF_MATCH, IF_NONE_MATCH = "If-Match", "If-None-Match"
HEADERS = (IF_MATCH, IF_NONE_MATCH)
# An entity tag, strong ("3") or weak (W/"3"), and a header that holds "*" or a list of them.
_ENTITY_TAG = r'(W/)?"[\x21\x23-\x7e\x80-\xff]*"'
CONDITION = rf"^[ \t]*(\*|(,[ \t]*)*{_ENTITY_TAG}([ \t]*,([ \t]*{_ENTITY_TAG})?)*)[ \t]*$"
_TAGS = re.compile(r'(W/)?"([^"]*)"')
_VERSION = re.compile(r"[1-9][0-9]*")

IfMatch = Annotated[str | None, Header(
    alias=IF_MATCH, pattern=CONDITION,
    description='Write only if the item is at one of these versions: ETags as answered (such as "3"), compared '
                "strongly (a weak W/ tag never matches), or * for any version. Otherwise the answer is a 412 "
                "and nothing is written; the check is part of the write.",
)]
IfNoneMatch = Annotated[str | None, Header(
    alias=IF_NONE_MATCH, pattern=CONDITION,
    description="Answer 304 without a body if the item's ETag is one of these (compared weakly) or the value is *.",
)]


class NotModified(Exception):
    """The client's copy is current: answered with 304, no body and the item's ETag."""

    def __init__(self, etag: str):
        super().__init__(etag)
        self.etag = etag


def etag(version: int) -> str:
    return f'"{version}"'


def _is_any(header: str) -> bool:
    return header.strip(" \t") == "*"


def expected_versions(if_match: str | None) -> VersionCondition | None:
    """The versions an If-Match header (already checked against its pattern) lets a write replace."""
    if if_match is None:
        return None
    if _is_any(if_match):
        return VersionCondition(versions=None)
    return VersionCondition(versions=frozenset(
        int(tag) for weak, tag in _TAGS.findall(if_match) if not weak and _VERSION.fullmatch(tag)
    ))


def tagged(item: Record | Kanban, status: HTTPStatus = HTTPStatus.OK, if_none_match: str | None = None) -> Response:
    """The answer with the item's ETag; raises NotModified when If-None-Match names that ETag."""
    tag = etag(item.version)
    if if_none_match is not None and (
        _is_any(if_none_match) or str(item.version) in {opaque for _, opaque in _TAGS.findall(if_none_match)}
    ):
        raise NotModified(tag)
    return Response(status_code=status.value, content_type=content_types.APPLICATION_JSON, body=item,
                    headers={ETAG: tag})
