"""Frontier: shortest link distances whatever order pages finish in."""

from __future__ import annotations

from quaero.crawler.frontier import Frontier


def test_a_shorter_path_found_later_relaxes_fetched_pages() -> None:
    f = Frontier(max_depth=2)
    assert f.visit("a", 0) == 0
    # a -> b -> c -> d is fetched first (the long way round)
    assert f.expand("a", [(1, ["b", "x"])]) == {"b": (1, "a"), "x": (1, "a")}
    assert f.visit("b", 1) == 1
    assert f.expand("b", [(1, ["c"])]) == {"c": (2, "b")}
    f.visit("c", 2)
    # c is at the depth limit: its link to d is kept, not followed
    assert f.expand("c", [(1, ["d"])]) == {}
    # x (depth 1) links c: c drops to 2? no, it is 2 already; a redirect from x to c is 0
    assert f.expand("x", [(0, ["c"])]) == {"c": (1, "x")} | {"d": (2, "c")}
    assert f.depth_of("c") == 1 and f.depth_of("d") == 2
    # a pending page whose depth dropped runs at the new depth
    assert f.visit("d", 3) == 2
