"""Which session the page shows and the links between sessions
(frontend/navigation.py): pure functions of the URL and the session list."""

from __future__ import annotations

from frontend.navigation import (
    Choice,
    choose_session,
    document_title,
    newest_first,
    page_error,
    session_from_search,
    session_href,
)

SESSIONS = [
    {"id": "session-3", "title": "Alice and Bob: goal review", "date": "2026-11-26"},
    {"id": "session-1", "title": "Alice and Bob: weekly session", "date": "2026-12-03"},
    {"id": "session-5", "title": "Alice and Erin: weekly session", "date": "2026-12-02"},
    {"id": "session-0", "title": "Same day, smaller id", "date": "2026-12-03"},
]


def test_the_session_of_a_url_and_none_when_it_names_none() -> None:
    assert session_from_search("?api=http%3A%2F%2F127.0.0.1%3A8000&session=session-5") == "session-5"
    assert session_from_search("session=session-5") == "session-5"
    assert session_from_search("") is None
    assert session_from_search("?session=") is None
    assert session_from_search("?session=a%2Fb") == "a/b"  # decoded; the API call quotes it again


def test_a_link_keeps_every_other_parameter_and_replaces_the_session() -> None:
    assert session_href("?api=http%3A%2F%2F127.0.0.1%3A9&sse_max_delay=2", "session-5") == (
        "?api=http%3A%2F%2F127.0.0.1%3A9&sse_max_delay=2&session=session-5"
    )
    assert session_href("?session=session-1&x=1", "session-3") == "?x=1&session=session-3"
    assert session_href("", "a b&c") == "?session=a+b%26c"
    assert session_from_search(session_href("", "a b&c")) == "a b&c"


def test_sessions_are_listed_newest_first_then_by_id() -> None:
    assert [s["id"] for s in newest_first(SESSIONS)] == ["session-0", "session-1", "session-5", "session-3"]


def test_the_url_chooses_one_of_the_persons_sessions_or_the_newest() -> None:
    assert choose_session(SESSIONS, "session-5") == Choice(SESSIONS[2])
    assert choose_session(SESSIONS, None) == Choice(SESSIONS[3])
    assert choose_session([], None) == Choice(None)
    # Not theirs: the server says whether it exists or is someone else's.
    assert choose_session(SESSIONS, "session-2") == Choice(None, look_up=True)


def test_what_the_page_says_when_the_session_cannot_be_shown() -> None:
    assert page_error(403) == "You are not a member of this coaching session."
    assert page_error(404) == "There is no such coaching session."
    assert "cannot be reached" in page_error(0)
    assert "error 500" in page_error(500)


def test_the_tab_title_names_the_session() -> None:
    assert document_title(SESSIONS[1]) == "Alice and Bob: weekly session - Coaching"
    assert document_title(None) == "Coaching"
    assert document_title({"id": "x", "title": ""}) == "Coaching"
