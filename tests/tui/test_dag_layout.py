"""The lane layout of a DAG: every edge drawn, lanes bounded, node rows in order."""

from __future__ import annotations

from flowyml_tui.dag_layout import NODE, layout


def draw(order, upstream) -> list[str]:
    return [(row.graph + " " + (row.step or "")).rstrip() for row in layout(order, upstream)]


def test_a_chain_is_one_lane():
    up = {"a": [], "b": ["a"], "c": ["b"]}
    assert draw(list(up), up) == ["● a", "● b", "● c"]


def test_fan_out_and_fan_in_are_drawn_with_junctions():
    up = {"load": [], "clean": ["load"], "featurize": ["clean"], "describe": ["clean"],
          "train": ["featurize"], "evaluate": ["train", "featurize", "describe"]}
    assert draw(list(up), up) == [
        "●     load",
        "●     clean",
        "├─╮",
        "│ ●   featurize",
        "● │   describe",
        "│ ├─╮",
        "│ │ ● train",
        "├─┴─╯",
        "●     evaluate",
    ]


def test_a_wide_map_stage_stays_three_lanes_wide():
    up = {"split": []}
    for i in range(50):
        up[f"item_{i}"] = ["split"]
    up["combine"] = [f"item_{i}" for i in range(50)]
    rows = layout(list(up), up)
    assert max(len(r.graph.rstrip()) for r in rows) == 5
    assert [r.step for r in rows if r.step] == list(up)
    assert rows[-1].graph.strip() == NODE and rows[-1].step == "combine"


def test_independent_steps_reuse_the_first_lane():
    up = {"a": [], "b": [], "c": []}
    assert draw(list(up), up) == ["● a", "● b", "● c"]


def test_node_columns_point_at_the_node():
    up = {"a": [], "b": [], "c": ["a", "b"]}
    for row in layout(list(up), up):
        if row.step:
            assert row.graph[row.column] == NODE
    assert draw(list(up), up) == ["●   a", "│ ● b", "├─╯", "●   c"]


def test_unknown_upstream_names_are_ignored_and_empty_is_empty():
    assert draw(["x"], {"x": ["gone"]}) == ["● x"]
    assert layout([], {}) == []
