"""Build-time type compatibility: the rules of ``flowyml.dag.typecheck``, one group each.

This module uses ``from __future__ import annotations``, so every step function
defined here has string annotations that the checker must resolve itself.
"""

from __future__ import annotations

import collections
import typing
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple, NewType, Optional, TypeVar, Union

import numpy as np
import pandas as pd
import pytest

from flowyml.assets import Asset, Dataset, Metrics, Model
from flowyml.dag.typecheck import Verdict, check_compatible, input_types, output_types

if TYPE_CHECKING:  # never bound at run time: annotations using it must resolve to "unknown"
    import polars as pl

T = TypeVar("T")
UserId = NewType("UserId", int)


def level(produced: object, expected: object) -> str:
    return check_compatible(produced, expected).level


# --- unknown -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("produced", "expected"),
    [(Any, int), (int, Any), (None, int), (int, None), (str, object), (T, int), (int, T),
     ("NotAName", int), (int, "NotAName"), (Any, Dataset), (list[Any], list[int])],
)
def test_unknown_or_any_on_either_side_is_ok(produced: object, expected: object) -> None:
    assert level(produced, expected) == "ok"


def test_annotated_is_stripped_and_newtype_is_its_supertype() -> None:
    assert level(Annotated[int, "units"], int) == "ok"
    assert level(int, Annotated[str, "x"]) == "error"
    assert level(UserId, int) == "ok"
    assert level(UserId, str) == "error"


# --- assets ------------------------------------------------------------------------


def test_same_asset_kind_or_base_asset_is_ok() -> None:
    assert level(Dataset, Dataset) == "ok"
    assert level(Dataset, Asset) == "ok"
    assert level(Model, Asset) == "ok"


def test_different_asset_kinds_are_an_error_that_reads_well() -> None:
    verdict = check_compatible(Model, Dataset, param="model")
    assert verdict == Verdict("error", "produces Model but 'model' expects Dataset (asset kinds differ)")
    assert level(Metrics, Model) == "error"


def test_base_asset_into_specific_kind_is_a_warning() -> None:
    verdict = check_compatible(Asset, Dataset, param="data")
    assert verdict.level == "warning"
    assert "not every Asset is a Dataset" in verdict.reason


def test_asset_into_plain_data_type_is_ok_because_the_engine_unwraps_it() -> None:
    assert level(Dataset, pd.DataFrame) == "ok"
    assert level(Model, dict) == "ok"
    assert level(Metrics, dict[str, float]) == "ok"
    assert level(Dataset, Optional[pd.DataFrame]) == "ok"


def test_plain_data_type_into_asset_is_ok_because_the_engine_wraps_it() -> None:
    assert level(pd.DataFrame, Dataset) == "ok"
    assert level(dict[str, float], Metrics) == "ok"
    assert level(pd.DataFrame, Optional[Dataset]) == "ok"


def test_none_is_not_wrapped_into_an_asset() -> None:
    assert level(type(None), Dataset) == "error"
    verdict = check_compatible(Optional[pd.DataFrame], Dataset, param="raw")
    assert verdict.level == "warning"
    assert verdict.reason.endswith("(may be None)")


def test_an_asset_parameter_gets_the_asset_so_optional_does_not_unwrap() -> None:
    verdict = check_compatible(Model, Optional[Dataset], param="data")
    assert verdict == Verdict("error",
                              "produces Model but 'data' expects Dataset | None (asset kinds differ)")
    assert level(Dataset, Optional[Dataset]) == "ok"
    assert level(Model, Union[Dataset, pd.DataFrame]) == "error"


def test_assets_inside_containers_are_not_unwrapped() -> None:
    verdict = check_compatible(list[Dataset], list[pd.DataFrame], param="parts")
    assert verdict.level == "error"
    assert "element: Dataset is not DataFrame" in verdict.reason
    assert level(list[Dataset], list[Asset]) == "ok"


def test_user_defined_asset_subclass_follows_its_kind() -> None:
    class Table(Dataset):
        pass

    assert level(Table, Dataset) == "ok"
    assert level(Table, Model) == "error"
    assert level(Dataset, Table) == "warning"


# --- plain classes -------------------------------------------------------------------


def test_subclass_is_ok_superclass_a_warning_unrelated_an_error() -> None:
    class Base:
        pass

    class Child(Base):
        pass

    assert level(Child, Base) == "ok"
    assert level(Base, Child) == "warning"
    assert level(int, str) == "error"
    assert level(bytes, str) == "error"
    assert level(pd.Series, pd.DataFrame) == "error"


def test_str_into_dataframe_names_both_types() -> None:
    verdict = check_compatible(str, pd.DataFrame, param="df")
    assert verdict == Verdict("error", "produces str but 'df' expects DataFrame")


def test_two_different_classes_with_one_name_are_told_apart() -> None:
    class DataFrame:
        pass

    verdict = check_compatible(DataFrame, pd.DataFrame, param="df")
    assert verdict.level == "error"
    local_name = DataFrame.__module__.split(".")[0] + ".DataFrame"
    assert verdict.reason == f"produces {local_name} but 'df' expects pandas.DataFrame"


@pytest.mark.parametrize(
    ("produced", "expected", "want"),
    [(bool, int, "ok"), (int, float, "ok"), (bool, float, "ok"), (float, complex, "ok"),
     (int, complex, "ok"), (np.int64, int, "ok"), (np.int64, float, "ok"), (np.float64, float, "ok"),
     (float, int, "error"), (complex, float, "error"), (int, bool, "error"), (str, float, "error")],
)
def test_numeric_tower(produced: type, expected: type, want: str) -> None:
    assert level(produced, expected) == want


def test_abstract_collections_use_issubclass() -> None:
    assert level(list, Sequence) == "ok"
    assert level(dict, Mapping) == "ok"
    assert level(pd.DataFrame, Iterable) == "ok"
    assert level(Sequence, list) == "warning"


# --- Optional and Union --------------------------------------------------------------


def test_optional_expected_accepts_the_type_and_none() -> None:
    for expected in (Optional[int], int | None):
        assert level(int, expected) == "ok"
        assert level(bool, expected) == "ok"
        assert level(type(None), expected) == "ok"
        assert level(str, expected) == "error"


def test_optional_produced_into_plain_is_a_may_be_none_warning() -> None:
    verdict = check_compatible(pd.DataFrame | None, pd.DataFrame, param="df")
    assert verdict == Verdict("warning", "produces DataFrame | None but 'df' expects DataFrame (may be None)")


def test_union_expected_is_ok_when_some_member_fits() -> None:
    assert level(int, Union[str, int]) == "ok"
    assert level(list[int], Union[pd.DataFrame, Sequence[int]]) == "ok"
    verdict = check_compatible(bytes, str | int, param="x")
    assert verdict == Verdict("error", "produces bytes but 'x' expects str | int")


def test_union_produced_all_some_or_none_compatible() -> None:
    assert level(Union[bool, int], float) == "ok"
    verdict = check_compatible(Union[int, str], int, param="n")
    assert verdict == Verdict("warning", "produces int | str but 'n' expects int (may be str)")
    assert level(Union[int, str], bytes) == "error"
    assert level(Union[int, str], Union[str, int]) == "ok"


def test_produced_none_into_a_plain_type_is_an_error() -> None:
    verdict = check_compatible(type(None), int, param="n")
    assert verdict == Verdict("error", "produces None but 'n' expects int")
    assert level(type(None), type(None)) == "ok"


# --- generics ------------------------------------------------------------------------


def test_container_origins_are_compared_first() -> None:
    assert level(list[int], Sequence[int]) == "ok"
    assert level(list[int], Iterable[int]) == "ok"
    assert level(set[str], Iterable[str]) == "ok"
    assert level(dict[str, int], Mapping[str, int]) == "ok"
    verdict = check_compatible(dict[str, int], list[int], param="xs")
    assert verdict == Verdict("error",
                              "produces dict[str, int] but 'xs' expects list[int] (dict is not list)")
    assert level(Sequence[int], list[int]) == "warning"


def test_element_types_are_compared_recursively() -> None:
    verdict = check_compatible(list[int], list[str], param="xs")
    assert verdict == Verdict("error",
                              "produces list[int] but 'xs' expects list[str] (element: int is not str)")
    assert level(list[bool], list[int]) == "ok"  # covariant: the consumer gets its own copy
    assert level(set[int], set[str]) == "error"
    assert level(list[list[int]], list[list[str]]) == "error"


def test_bare_containers_on_either_side_are_ok() -> None:
    assert level(list[int], list) == "ok"
    assert level(list, list[int]) == "ok"
    assert level(dict, dict[str, pd.DataFrame]) == "ok"


def test_mapping_keys_and_values() -> None:
    assert level(dict[str, int], dict[str, float]) == "ok"
    verdict = check_compatible(dict[str, list[int]], Mapping[str, list[str]], param="m")
    assert verdict.level == "error"
    assert verdict.reason.endswith("(element of value: int is not str)")
    assert "key" in check_compatible(dict[int, str], dict[str, str]).reason
    assert level(dict[str, int], Iterable[str]) == "ok"  # iterating a mapping yields keys
    assert level(collections.Counter[str], Mapping[str, int]) == "ok"
    assert level(collections.Counter[str], Mapping[str, str]) == "error"


def test_tuples_item_by_item() -> None:
    assert level(tuple[int, str], tuple[int, str]) == "ok"
    assert level(tuple[bool, str], tuple[int, str]) == "ok"
    verdict = check_compatible(tuple[int, str], tuple[int, int], param="pair")
    assert verdict.reason.endswith("(item 1: str is not int)")
    verdict = check_compatible(tuple[int, str], tuple[int, str, int], param="triple")
    assert verdict == Verdict("error", "produces tuple[int, str] but 'triple' expects tuple[int, str, int] "
                                       "(2 items, expects 3)")
    assert level(tuple[int, int], tuple[int, ...]) == "ok"
    assert level(tuple[int, str], tuple[int, ...]) == "error"
    assert level(tuple[int, ...], tuple[float, ...]) == "ok"
    assert level(tuple[int, ...], tuple[int, int]) == "warning"
    assert level(tuple[int, int], Sequence[int]) == "ok"
    assert level(tuple[int, str], Sequence[int]) == "warning"


def test_nested_optional_elements_warn() -> None:
    verdict = check_compatible(list[Optional[int]], list[int], param="xs")
    assert verdict == Verdict("warning",
                              "produces list[int | None] but 'xs' expects list[int] (element: may be None)")


def test_other_generics_compare_arguments_pairwise_and_callables_are_not_checked() -> None:
    assert level(type[Dataset], type[Asset]) == "ok"
    assert level(type[int], type[str]) == "error"
    assert level(Callable[[int], str], Callable[[str], int]) == "ok"
    assert level(Callable[[int], str], list[int]) == "error"


def test_typing_module_aliases_behave_like_builtins() -> None:
    import typing

    assert level(typing.List[int], typing.Sequence[int]) == "ok"
    assert level(typing.Dict[str, int], typing.List[int]) == "error"
    assert level(typing.List[int], list[str]) == "error"


def test_unresolvable_forward_refs_inside_generics_are_unknown() -> None:
    assert level(list["Nope"], list[int]) == "ok"


# --- Literal -------------------------------------------------------------------------


def test_literals() -> None:
    assert level(Literal["a"], Literal["a", "b"]) == "ok"
    verdict = check_compatible(Literal["a", "b"], Literal["a"], param="mode")
    assert verdict == Verdict("warning",
                              "produces Literal['a', 'b'] but 'mode' expects Literal['a'] (may be 'b')")
    assert level(Literal["c"], Literal["a", "b"]) == "error"
    assert level(Literal[1], Literal[True]) == "error"
    assert level(Literal["a", "b"], str) == "ok"
    assert level(Literal[1, "a"], int) == "warning"
    assert level(Literal[1], str) == "error"
    assert level(str, Literal["a", "b"]) == "warning"
    assert level(int, Literal["a"]) == "error"
    assert level(Literal["a"], Optional[str]) == "ok"


# --- resolving annotations from functions --------------------------------------------


def load() -> Dataset:
    return Dataset(pd.DataFrame({"a": [1]}))


def train(data: pd.DataFrame, epochs: int = 3) -> Model:
    return Model(object())


def evaluate(model: Dataset, *args: int, threshold: float | None = None, **kwargs: str) -> None:
    pass


def split(data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return data, data


def repeat(data: Any) -> tuple[int, ...]:
    return (1, 1, 1)


def unannotated(data, other):
    return data


def hint_only(frame: pl.DataFrame, n: int) -> tuple[pl.DataFrame, Model]:
    raise NotImplementedError


def optional_hint_only() -> pl.DataFrame | None:
    raise NotImplementedError


class Pair(NamedTuple):
    left: Dataset
    right: Model


def named_pair() -> Pair:
    raise NotImplementedError


def annotated_output() -> Annotated[tuple[int, str], "meta"]:
    return 1, "a"


def test_string_annotations_resolve_against_the_functions_globals() -> None:
    assert train.__annotations__["return"] == "Model"  # really a string, thanks to the future import
    assert output_types(train, 1) == [Model]
    assert input_types(train) == {"data": pd.DataFrame, "epochs": int}


def test_the_guides_mismatch_is_found_through_the_functions() -> None:
    produced = output_types(train, 1)[0]
    expected = input_types(evaluate)["model"]
    assert check_compatible(produced, expected, param="model") == Verdict(
        "error", "produces Model but 'model' expects Dataset (asset kinds differ)")
    assert check_compatible(output_types(load, 1)[0], input_types(train)["data"]).level == "ok"


def test_input_types_skips_star_args_and_keeps_keyword_only() -> None:
    assert input_types(evaluate) == {"model": Dataset, "threshold": Optional[float]}


def test_unannotated_functions_give_any() -> None:
    assert output_types(unannotated, 1) == [Any]
    assert output_types(unannotated, 2) == [Any, Any]
    assert input_types(unannotated) == {"data": Any, "other": Any}


def test_returning_none_is_the_none_type() -> None:
    assert output_types(evaluate, 1) == [type(None)]
    assert check_compatible(output_types(evaluate, 1)[0], int).level == "error"


def test_several_outputs_take_tuple_elements() -> None:
    assert output_types(split, 2) == [pd.DataFrame, pd.DataFrame]
    assert output_types(repeat, 3) == [int, int, int]
    assert output_types(named_pair, 2) == [Dataset, Model]
    assert output_types(annotated_output, 2) == [int, str]
    assert output_types(split, 1) == [tuple[pd.DataFrame, pd.DataFrame]]
    assert output_types(split, 0) == []


def test_several_outputs_without_a_matching_tuple_are_unknown() -> None:
    assert output_types(split, 3) == [Any, Any, Any]
    assert output_types(train, 2) == [Any, Any]


def test_names_that_do_not_resolve_are_unknown_without_spoiling_the_rest() -> None:
    assert input_types(hint_only) == {"frame": Any, "n": int}
    assert output_types(hint_only, 2) == [Any, Model]
    assert check_compatible(output_types(hint_only, 2)[1], Dataset).level == "error"
    (maybe_frame,) = output_types(optional_hint_only, 1)
    assert check_compatible(maybe_frame, pd.DataFrame).level == "warning"  # still "may be None"
    assert check_compatible(maybe_frame, pd.DataFrame | None).level == "ok"


def test_functions_defined_in_a_test_see_module_names_but_not_local_ones() -> None:
    class Local:
        pass

    def step(a: Local, b: pd.Series) -> list[int]:
        return []

    assert input_types(step) == {"a": Any, "b": pd.Series}
    assert output_types(step, 1) == [list[int]]
    assert check_compatible(output_types(step, 1)[0], input_types(split)["data"]).level == "error"


def test_wrapped_functions_are_followed() -> None:
    import functools

    @functools.wraps(train)
    def wrapper(*args: object, **kwargs: object) -> object:
        return train(*args, **kwargs)

    assert output_types(wrapper, 1) == [Model]
    assert input_types(wrapper) == {"data": pd.DataFrame, "epochs": int}


def test_real_object_annotations_work_too() -> None:
    def step(x, y):
        return x

    step.__annotations__ = {"x": list[int], "y": None, "return": Optional[Dataset]}
    assert input_types(step) == {"x": list[int], "y": type(None)}
    assert output_types(step, 1) == [Optional[Dataset]]


def test_checking_imports_no_heavy_library() -> None:
    code = ("import sys, flowyml.dag.typecheck as t; t.check_compatible(list[int], list[str]); "
            "print(sorted(m for m in ('pandas', 'numpy', 'pyarrow', 'polars') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_nested_step_sees_enclosing_names_it_uses_and_typing_names() -> None:
    from typing import Optional as LocalOptional  # noqa: F401 - only the name typing gives it matters

    class Local:
        pass

    def make() -> Local:
        return Local()

    def use(x: Optional[Local], y: LocalOptional[int]) -> None:
        pass

    assert output_types(make, 1) == [Local]  # Local is a closure value: make's body uses it
    # Optional is bound in this module; Local is not used by use's body, so unknown.
    assert input_types(use) == {"x": Optional[Any], "y": Any}


def test_typing_names_imported_inside_a_function_still_resolve() -> None:
    namespace: dict[str, object] = {}
    exec(  # a module of its own whose typing import happens inside a function
        "from __future__ import annotations\n"
        "def factory():\n"
        "    from typing import Optional, Union\n"
        "    def make() -> Optional[int]: ...\n"
        "    def use(x: Union[int, str], y: List[int]): ...\n"
        "    return make, use\n",
        namespace,
    )
    make, use = namespace["factory"]()  # type: ignore[operator]
    assert output_types(make, 1) == [Optional[int]]
    assert input_types(use) == {"x": Union[int, str], "y": typing.List[int]}
    assert check_compatible(output_types(make, 1)[0], int).level == "warning"
