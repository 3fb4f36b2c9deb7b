"""The compile cache a snapshot holds (frontend/snapshots.mjs `COMPILE_CACHE`),
run by CPython: each case in a process of its own, since installing it patches
the standard library (`dataclasses.exec`, `collections.eval`, and the forward
references' `compile`: `annotationlib`'s on Python 3.14, `typing`'s before).
The page proves the same in the browser (tests/e2e/test_boot.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def _python_source() -> str:
    from tools.pyodide_build import compile_cache_source

    return compile_cache_source()


DEFINE = """
import collections, dataclasses, typing

@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    label: str = "origin"
    tags: list = dataclasses.field(default_factory=list)

Pair = collections.namedtuple("Pair", "left right")

class Annotated:
    count: "int"
    names: "list[str]"

hints = typing.get_type_hints(Annotated)
checks = [
    Point(1) == Point(1), Point(1) != Point(2), repr(Point(1, "a")), Point(3).tags == [],
    Pair(1, 2).right, hints == {"count": int, "names": list[str]},
]
"""


def _run(body: str) -> dict:
    script = _python_source() + "\n" + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_what_the_standard_library_compiles_is_kept_and_behaves_as_compiled_plainly() -> None:
    result = _run(
        f"""
        import json, sys
        install_compile_cache([])
        state = sys.modules["_compile_cache"]
        exec({DEFINE!r})
        first = state.missed
        exec({DEFINE!r})  # the same classes again: all found
        same = all(
            code.co_code == plain.co_code and code.co_flags == plain.co_flags and code.co_consts == plain.co_consts
            for (mode, source), code in state.cache.items()
            for plain in [compile(source, "<string>", mode)]
        )
        print(json.dumps({{"first": first, "again": state.missed - first, "cached": len(state.cache),
                          "modes": sorted({{mode for mode, _ in state.cache}}), "same": same, "checks": checks}}))
        """
    )
    assert result["first"] == result["cached"] > 0
    assert result["again"] == 0
    assert result["modes"] == ["eval", "exec"]  # dataclasses and namedtuple, and the forward references
    assert result["same"]
    assert result["checks"] == [True, True, "Point(x=1, label='a', tags=[])", True, 2, True]


def test_a_cache_made_with_another_process_sources_compiles_none_of_them() -> None:
    """As a restored page: the worker installed it with the sources the first
    visit compiled; the page's imports then find every one."""
    recorded = _run(
        f"""
        import json, sys
        install_compile_cache([])
        exec({DEFINE!r})
        print(json.dumps({{"sources": sys.modules["_compile_cache"].sources()}}))
        """
    )["sources"]
    result = _run(
        f"""
        import json, sys
        install_compile_cache({recorded!r} + [["exec", "def ("], ["eval", 3], ["bogus", "x"], ["eval", "  1 + 1"]])
        state = sys.modules["_compile_cache"]
        exec({DEFINE!r})
        spaces = __import__("collections").eval("  1 + 1")
        print(json.dumps({{"missed": state.missed, "cached": len(state.cache), "checks": checks, "spaces": spaces}}))
        """
    )
    assert result["missed"] == 0
    assert result["cached"] == len(recorded) + 1  # the bad entries left out, the indented eval kept
    assert result["checks"][-2:] == [2, True]
    assert result["spaces"] == 2  # leading spaces stripped, as the builtin eval does


def test_other_calls_go_to_the_builtins_untouched() -> None:
    result = _run(
        """
        import __future__, collections, dataclasses, json, sys
        try:
            import annotationlib as forward_refs
        except ImportError:
            import typing as forward_refs
        install_compile_cache([])
        state = sys.modules["_compile_cache"]
        scope = {}
        dataclasses.exec(compile("x = 1", "elsewhere", "exec"), scope)  # a code object: run as given
        elsewhere = forward_refs.compile("2", "elsewhere", "eval")  # another file name: not kept
        flagged = forward_refs.compile("3", "<string>", "eval", __future__.annotations.compiler_flag)  # flags: not kept
        source = forward_refs.compile(b"4", "<string>", "eval")  # bytes: not kept
        values = [eval(elsewhere), eval(flagged), eval(source)]
        print(json.dumps({"x": scope["x"], "file": elsewhere.co_filename, "values": values,
                          "cached": len(state.cache), "eval": collections.eval("5")}))
        """
    )
    assert result == {"x": 1, "file": "elsewhere", "values": [2, 3, 4], "cached": 0, "eval": 5}


def test_a_file_of_the_code_objects_seeds_another_process_which_then_compiles_none_of_them(tmp_path) -> None:
    """As a first visit: the build dumps what importing the app compiled
    (`dump()`, tools/pyodide_build.py), the page seeds its cache with it before
    its own imports and compiles none of those texts itself; the classes behave as
    compiled plainly."""
    cache = tmp_path / "compile-cache.bin"
    made = _run(
        f"""
        import json, sys
        install_compile_cache([])
        exec({DEFINE!r})
        state = sys.modules["_compile_cache"]
        open({str(cache)!r}, "wb").write(state.dump())
        print(json.dumps({{"cached": len(state.cache)}}))
        """
    )
    result = _run(
        f"""
        import json, sys
        install_compile_cache([])
        state = sys.modules["_compile_cache"]
        seeded = state.seed({str(cache)!r})
        again = state.seed({str(cache)!r})  # nothing new
        exec({DEFINE!r})
        print(json.dumps({{"seeded": seeded, "again": again, "total": state.seeded, "missed": state.missed,
                          "checks": checks}}))
        """
    )
    assert made["cached"] > 0
    assert result == {"seeded": made["cached"], "again": 0, "total": made["cached"], "missed": 0,
                      "checks": [True, True, "Point(x=1, label='a', tags=[])", True, 2, True]}


def test_a_missing_or_foreign_or_damaged_file_seeds_nothing(tmp_path) -> None:
    """Another Python's byte-code (its magic number differs), a cut file, one
    that is not a list of (mode, text, code) at all, or no file: nothing is
    seeded, nothing raised, and the page compiles as without it."""
    good = tmp_path / "good.bin"
    _run(
        f"""
        import json, sys
        install_compile_cache([])
        exec({DEFINE!r})
        open({str(good)!r}, "wb").write(sys.modules["_compile_cache"].dump())
        print("{{}}")
        """
    )
    data = good.read_bytes()
    cases = {
        "foreign": bytes([data[0] ^ 1]) + data[1:],
        "cut": data[: len(data) // 2],
        "shape": data[:4] + __import__("marshal").dumps([("exec", "x = 1", "not code")]),
    }
    for name, body in cases.items():
        (tmp_path / name).write_bytes(body)
    paths = [str(tmp_path / name) for name in [*cases, "absent"]]
    result = _run(
        f"""
        import json, sys
        install_compile_cache([])
        state = sys.modules["_compile_cache"]
        counts = [state.seed(path) for path in {paths!r}]
        exec({DEFINE!r})
        print(json.dumps({{"counts": counts, "seeded": state.seeded, "compiled": state.missed > 0, "checks": checks}}))
        """
    )
    assert result["counts"] == [0, 0, 0, 0] and result["seeded"] == 0
    assert result["compiled"] and result["checks"][1] is True
