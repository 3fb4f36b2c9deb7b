"""The contract (`contract/`): one registry of entity kinds drives the
events, the REST client, the cache and the stub.

A kind that exists only in this test (`NOTES`) is added to a copy of the
registry: it must get its three envelopes and validators, its REST calls,
its cache keys and invalidation, and the stub's table and routes, with no
other declaration. Then the boundaries: the contract imports no app and no
server code, and the stub imports nothing from `frontend`.
"""

from __future__ import annotations

import ast
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from backend_stub.app import create_app
from backend_stub.config import StubConfig
from contract.events import EVENTS, EventSet, event_set
from contract.models import ActionStatus, Entity, Text
from contract.registry import ACTIONS, AGREEMENTS, ENTITY_KINDS, OVERARCHING_GOALS, REQUIRED, EntityKind
from frontend.api import ApiClient
from frontend.cache import Cache, CacheEntry, entity_key
from frontend.hooks.use_sse_cache_invalidation import CACHE_INVALIDATION, CacheChange, apply_entity_events, cache_invalidation_map
from tests.support.stub import API_HEADERS, auth_headers

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Note(Entity):
    """A kind of entity the API does not have."""

    body: str
    pinned: bool = False
    user_id: str | None = None


NOTES = EntityKind(
    name="note",
    endpoint="notes",
    model=Note,
    writable={"body": (Text, REQUIRED), "pinned": (bool, False)},
    id_prefix="note",
)
KINDS = (*ENTITY_KINDS, NOTES)
SCOPE = {"coaching_session_id": "session-1", "coaching_relationship_id": "rel-1"}
NOTE = Note.model_validate(
    {"id": "note-1", "coaching_session_id": "session-1", "body": "hi", "created_at": "2026-01-01T00:00:00Z",
     "updated_at": "2026-01-01T00:00:01Z"}
)


# -- the registry ----------------------------------------------------------------------------------


def test_each_kind_of_the_api_is_declared_once_with_the_backends_names() -> None:
    assert [kind.name for kind in ENTITY_KINDS] == ["action", "agreement", "overarching_goal"]
    assert [kind.endpoint for kind in ENTITY_KINDS] == ["actions", "agreements", "overarching_goals"]
    goal = OVERARCHING_GOALS
    assert (goal.path, goal.item_path("g1")) == ("/overarching_goals", "/overarching_goals/g1")
    assert (goal.payload_key, goal.deleted_id_field) == ("overarching_goal", "overarching_goal_id")
    assert goal.event_types == {
        "created": "overarching_goal_created",
        "updated": "overarching_goal_updated",
        "deleted": "overarching_goal_deleted",
    }
    assert goal.scope_fields == ("coaching_session_id",)
    assert goal.type_name == "OverarchingGoal"
    assert ACTIONS.create_fields == ("coaching_session_id", "body", "status")
    assert AGREEMENTS.update_fields == ("body",)
    changes = ("created", "updated", "deleted")
    assert EVENTS.entity_event_types == {f"{kind.name}_{change}" for kind in ENTITY_KINDS for change in changes}
    assert EVENTS.event_types == EVENTS.entity_event_types | {"force_logout", "resync", "notification", "disabled"}


def test_a_kinds_request_bodies_follow_its_writable_fields() -> None:
    create = ACTIONS.create_body.model_validate({"coaching_session_id": "s", "body": "x", "extra": 1})
    assert create.model_dump() == {"coaching_session_id": "s", "body": "x", "status": ActionStatus.NotStarted}
    assert ACTIONS.update_body.model_validate({}).model_dump() == {"body": None, "status": None}
    with pytest.raises(ValidationError):
        ACTIONS.create_body.model_validate({"coaching_session_id": "s", "body": ""})  # Text: at least one character
    assert OVERARCHING_GOALS.create_body.model_validate({"coaching_session_id": "s", "title": "t"}).body == ""  # LongText
    assert (ACTIONS.create_body.__name__, ACTIONS.update_body.__name__) == ("ActionCreate", "ActionUpdate")


def test_a_kinds_names_may_be_declared_against_the_rule() -> None:
    kind = EntityKind(
        name="memo", endpoint="memos", model=Note, writable={}, id_prefix="m", payload_key="item",
        event_types={"deleted": "memo_removed"},
    )
    assert (kind.payload_key, kind.deleted_id_field) == ("item", "memo_id")
    assert kind.event_types == {"created": "memo_created", "updated": "memo_updated", "deleted": "memo_removed"}


# -- a kind added to a registry ------------------------------------------------------------------


def test_an_added_kind_gets_its_three_envelopes_and_validators() -> None:
    events = EventSet(KINDS)
    assert {"note_created", "note_updated", "note_deleted"} <= events.entity_event_types
    assert not {"note_created", "note_updated", "note_deleted"} & EVENTS.event_types  # the API's set is untouched
    assert events.envelopes["note_created"].__name__ == "NoteCreatedEvent"
    for event in (NOTES.changed_event("created", NOTE, "rel-1"), NOTES.deleted_event(NOTE, "rel-1")):
        data = events.dump_event(event)
        assert events.adapter.validate_json(data) == event  # through the union
        assert events.validators[event["type"]](data) == event  # through its own validator
    assert json.loads(events.dump_event(NOTES.deleted_event(NOTE, "rel-1"))) == {
        "type": "note_deleted",
        "data": {**SCOPE, "note_id": "note-1"},
    }
    with pytest.raises(ValidationError):  # the payload key is checked
        events.validators["note_updated"](json.dumps({"type": "note_updated", "data": {**SCOPE, "action": {}}}))
    assert event_set(KINDS) is event_set(KINDS)  # made once per registry


def test_an_event_sets_validators_are_built_as_each_type_first_comes() -> None:
    """Building every validator is most of the contract's import on the page's
    start: a set builds none until one is used, then keeps it."""
    events = EventSet(KINDS)
    assert dict(events.validators) == {} and dict(events.adapters) == {} and "adapter" not in vars(events)
    data = events.dump_event(NOTES.deleted_event(NOTE, "rel-1"))
    assert events.validators["note_deleted"](data)["type"] == "note_deleted"
    assert sorted(events.validators) == ["note_deleted"] and sorted(events.adapters) == ["note_deleted"]
    assert events.validators["note_deleted"] is events.validators["note_deleted"]  # built once
    assert events.validate_union(data) == events.validate_union(data)
    assert "adapter" in vars(events)
    with pytest.raises(KeyError):
        events.validators["nope"]
    assert "nope" not in events.validators


def test_the_generated_envelopes_write_the_wire_format_of_the_hand_written_ones() -> None:
    action = ACTIONS.model.model_validate(
        {"id": "a1", "coaching_session_id": "session-1", "body": "b", "status": "InProgress",
         "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:01.5Z"}
    )
    assert EVENTS.dump_event(ACTIONS.changed_event("updated", action, "rel-1")) == (
        '{"type":"action_updated","data":{"coaching_session_id":"session-1","coaching_relationship_id":"rel-1",'
        '"action":{"id":"a1","coaching_session_id":"session-1","created_at":"2026-01-01T00:00:00Z",'
        '"updated_at":"2026-01-01T00:00:01.500000Z","version":1,"body":"b","status":"InProgress","user_id":null}}}'
    )  # `version` absent from the input: an older payload reads as version 1
    assert EVENTS.dump_event(AGREEMENTS.deleted_event(action, "rel-1")) == (
        '{"type":"agreement_deleted","data":{"coaching_session_id":"session-1","coaching_relationship_id":"rel-1",'
        '"agreement_id":"a1"}}'
    )


async def test_an_added_kind_gets_its_cache_keys_and_invalidation() -> None:
    changes = cache_invalidation_map(KINDS)
    assert changes["note_created"] == CacheChange("notes", "note", False)
    assert changes["note_deleted"] == CacheChange("notes", "note_id", True)
    assert {name: change for name, change in changes.items() if not name.startswith("note_")} == CACHE_INVALIDATION
    key = entity_key(NOTES, {"coaching_session_id": "session-1", "unrelated": "x"})
    assert key == ("notes", (("coaching_session_id", "session-1"),))

    cache = Cache(lambda key: None)  # type: ignore[arg-type,return-value]
    cache.store.set_state({key: CacheEntry(data=())})
    assert apply_entity_events(cache, [NOTES.changed_event("created", NOTE, "rel-1")], changes) == [key]
    assert cache.get(key).data == (NOTE,)
    assert apply_entity_events(cache, [NOTES.deleted_event(NOTE, "rel-1")], changes) == [key]
    assert cache.get(key).data == ()


async def test_an_added_kind_gets_its_rest_calls() -> None:
    sent: list[tuple[str, str, Any | None]] = []
    answer = NOTE.model_dump_json()

    async def send(method: str, url: str, headers: Mapping[str, str], body: str | None) -> tuple[int, str]:
        sent.append((method, url, None if body is None else json.loads(body)))
        return (204, "") if method == "DELETE" else (200, "[" + answer + "]" if method == "GET" else answer)

    api = ApiClient("http://api", send, token=lambda: "t", kinds=KINDS)
    assert await api.list_entities("notes", {"coaching_session_id": "session-1", "unrelated": "x"}) == [NOTE]
    assert await api.create_entity("notes", {"coaching_session_id": "session-1", "body": "hi"}) == NOTE
    assert await api.update_entity("notes", "note-1", {"pinned": True}) == NOTE
    assert await api.delete_entity("notes", "note-1") is None
    assert sent == [
        ("GET", "http://api/notes?coaching_session_id=session-1", None),
        ("POST", "http://api/notes", {"coaching_session_id": "session-1", "body": "hi"}),
        ("PUT", "http://api/notes/note-1", {"pinned": True}),
        ("DELETE", "http://api/notes/note-1", None),
    ]
    with pytest.raises(ValueError, match="notes does not accept title"):
        await api.update_entity("notes", "note-1", {"title": "x"})
    with pytest.raises(KeyError):
        await ApiClient("http://api", send, token=lambda: "t").list_entities("notes", {"coaching_session_id": "s"})
    assert len(sent) == 4  # no request for a refused call


async def test_an_added_kind_gets_the_stubs_table_and_routes(tmp_path: Path) -> None:
    app = create_app(StubConfig(db_path=tmp_path / "stub.sqlite3"), kinds=KINDS)
    routes = {(route.path, method) for route in app.routes for method in getattr(route, "methods", None) or ()}
    verbs = {("/notes", "GET"), ("/notes", "POST"), ("/notes/{id}", "GET"), ("/notes/{id}", "PUT"), ("/notes/{id}", "DELETE")}
    assert verbs <= routes

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://stub") as http:
        login = await http.post("/login", json={"username": "alice", "password": "demo"}, headers=API_HEADERS)
        headers = auth_headers(login.json()["token"])
        created = await http.post("/notes", json={"coaching_session_id": "session-1", "body": "hi"}, headers=headers)
        assert created.status_code == 201, created.text
        note = Note.model_validate_json(created.text)
        assert note.id.startswith("note-") and note.user_id == "user-alice" and note.pinned is False
        updated = await http.put(f"/notes/{note.id}", json={"pinned": True}, headers=headers)
        assert Note.model_validate_json(updated.text).pinned is True
        listed = await http.get("/notes", params={"coaching_session_id": "session-1"}, headers=headers)
        assert [item["id"] for item in listed.json()] == [note.id]
        assert (await http.put(f"/notes/{note.id}", json={"body": ""}, headers=headers)).status_code == 422
        assert (await http.delete(f"/notes/{note.id}", headers=headers)).status_code == 204
        assert (await http.get(f"/notes/{note.id}", headers=headers)).status_code == 404
        assert (await http.get("/actions", params={"coaching_session_id": "session-1"}, headers=headers)).status_code == 200

    logged = app.state.storage.replay("0", "user-alice", frozenset({"rel-1"})).events
    assert [event.type for event in logged] == ["note_created", "note_updated", "note_deleted"]
    events = event_set(KINDS)
    for event in logged:
        assert events.validators[event.type](event.payload)["type"] == event.type
    assert json.loads(logged[-1].payload)["data"] == {**SCOPE, "note_id": note.id}
    app.state.storage.close()


# -- the boundaries --------------------------------------------------------------------------------


def top_level_imports(package: str) -> dict[str, set[str]]:
    """{module file: the top-level names it imports (absolute; relative ones as the package)}."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.partition(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names.add(package if node.level else (node.module or "").partition(".")[0])
        found[path.relative_to(REPO).as_posix()] = names
    return found


def test_the_contract_imports_only_pydantic_and_the_standard_library() -> None:
    """It runs in CPython 3.11 (the stub) and in Pyodide's Python 3.14 (the page)."""
    allowed = {"contract", "pydantic", "typing_extensions"} | set(sys.stdlib_module_names)
    imports = top_level_imports("contract")
    assert "contract/registry.py" in imports
    assert {path: names - allowed for path, names in imports.items() if names - allowed} == {}


def test_the_sse_client_package_imports_only_the_standard_library_and_itself() -> None:
    """It is a distribution of its own (docs/package.md): nothing of the app,
    the contract or pydantic; httpx only in its CPython transport; `js` and
    `pyodide` only in its browser transport."""
    allowed = {"sse_client"} | set(sys.stdlib_module_names)
    browser = {"js", "pyodide"}
    optional = {
        "sse_client/httpx_transport.py": {"httpx"},
        "sse_client/browser.py": browser,
        "sse_client/early.py": browser,
        "sse_client/tab_shell.py": browser,
    }
    imports = top_level_imports("sse_client")
    assert "sse_client/parser.py" in imports
    extra = {path: names - allowed - optional.get(path, set()) for path, names in imports.items()}
    assert {path: names for path, names in extra.items() if names} == {}


def test_the_app_uses_only_the_sse_client_packages_public_modules() -> None:
    """The app imports the package as any user would: no `_private` module."""
    for package in ("frontend", "bench", "backend_stub"):
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text()
            assert "sse_client._" not in text, path


def test_the_stub_imports_nothing_from_the_frontend() -> None:
    imports = top_level_imports("backend_stub")
    assert "backend_stub/app.py" in imports
    assert [path for path, names in imports.items() if "frontend" in names] == []
