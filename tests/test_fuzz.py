"""Property-based tests: whatever a config, an option value or a dataset file holds, genmodels either accepts it
(and what it accepts round-trips) or refuses it with a ConfigError, DatasetError or RunError, never anything else."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import typing

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from genmodels import MLPConfig, ModelConfig, TrainConfig
from genmodels.cli.common import key_value
from genmodels.core.config import coerce
from genmodels.data.dataset import Dataset
from genmodels.data.npz import load_npz
from genmodels.data.arrays import as_images, to_unit
from genmodels.core.errors import ConfigError, DatasetError, RunError
from genmodels.runs.format import RunConfig, read_metrics

from conftest import run_main

# 60 examples per property keeps the suite fast; GENMODELS_FUZZ_EXAMPLES=5000 searches harder.
FUZZ = settings(
    max_examples=int(os.environ.get("GENMODELS_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
CONFIGS = [ModelConfig, MLPConfig, TrainConfig]
TEXT = st.text(max_size=16)


def keys_of(config_class) -> st.SearchStrategy[str]:
    return st.sampled_from([f.name for f in dataclasses.fields(config_class)]) | st.text(max_size=10)


def value_of(kind) -> st.SearchStrategy:
    """Well-typed JSON values of a config field's type, in and out of range."""
    if typing.get_origin(kind) is tuple:
        return st.lists(value_of(typing.get_args(kind)[0]), max_size=4)
    return {
        bool: st.booleans(),
        int: st.integers(-5, 10**6),
        float: st.floats(allow_nan=False),
        str: st.text(max_size=12),
    }[kind]


@FUZZ
@given(config_class=st.sampled_from(CONFIGS), data=st.data())
def test_from_dict_accepts_or_raises_config_error_and_what_it_accepts_round_trips(config_class, data):
    raw = data.draw(st.dictionaries(keys_of(config_class), JSON, max_size=5) | JSON)
    try:
        config = config_class.from_dict(raw)
    except ConfigError:
        return
    assert config_class.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@FUZZ
@given(config_class=st.sampled_from(CONFIGS), data=st.data())
def test_well_typed_configs_are_accepted_exactly_when_valid_and_round_trip(config_class, data):
    hints = typing.get_type_hints(config_class)
    raw = {
        f.name: data.draw(value_of(hints[f.name])) for f in dataclasses.fields(config_class) if data.draw(st.booleans())
    }
    try:
        config = config_class.from_dict(raw)
    except ConfigError:
        return
    # a field missing from a stored config stands for its `absent` value where it has one (what older runs were built with)
    absent = {
        f.name: f.metadata["absent"] for f in dataclasses.fields(config_class) if f.metadata.get("absent") is not None
    }
    assert config == config_class().replace(**{**absent, **raw})
    assert config_class.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@FUZZ
@given(
    kind=st.sampled_from([int, float, str, bool, tuple[int, ...], tuple[str, ...]]),
    value=JSON | TEXT,
    strict=st.booleans(),
)
def test_coerce_returns_the_asked_type_or_raises_config_error(kind, value, strict):
    try:
        result = coerce(value, kind, "field", strict=strict)
    except ConfigError:
        return
    assert isinstance(result, typing.get_origin(kind) or kind)


@FUZZ
@given(item=TEXT, config_class=st.sampled_from([MLPConfig, TrainConfig]))
def test_option_strings_from_the_command_line_are_parsed_or_refused(item, config_class):
    try:
        key, value = key_value(item)
        config = config_class().replace(**{key: value})
    except ConfigError:
        return
    assert config_class.from_dict(config.to_dict()) == config


@FUZZ
@given(
    option=st.sampled_from(["sample vae -n", "sample vae --seed", "evaluate vae --k", "train vae --resume --epochs"]),
    value=TEXT,
)
def test_any_value_of_a_count_option_gets_one_line_from_the_cli(tmp_path, capsys, option, value):
    *words, name = option.split()
    outcome = run_main(
        capsys, *words, f"{name}={value}" if name.startswith("--") else f"{name}{value}", "--run-dir", tmp_path / "none"
    )
    outcome.assert_one_error_line()  # a bad value, or (for a good one) no trained model in the run directory


@FUZZ
@given(data=JSON)
def test_a_run_configuration_is_accepted_or_refused_with_a_run_error(data):
    try:
        config = RunConfig.from_json(data, "config.json")
    except RunError:
        return
    assert isinstance(config.model, str) and len(config.image_shape) == 3 and min(config.image_shape) > 0


@FUZZ
@given(text=st.text(max_size=200) | st.lists(JSON, max_size=3).map(lambda rows: "\n".join(map(json.dumps, rows))))
def test_metrics_lines_are_read_or_refused_with_a_run_error(tmp_path, text):
    (tmp_path / "metrics.jsonl").write_text(text)
    try:
        records = read_metrics(tmp_path)
    except RunError:
        return
    assert [record["epoch"] for record in records] == list(range(1, len(records) + 1))


ANY_DTYPE = hnp.scalar_dtypes() | hnp.unicode_string_dtypes(max_len=2) | hnp.byte_string_dtypes(max_len=2)
ANY_SHAPE = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)


@FUZZ
@given(array=hnp.arrays(ANY_DTYPE, ANY_SHAPE), side=st.integers(0, 3), channels=st.sampled_from([1, 3]))
def test_any_array_becomes_images_of_one_kind_or_a_dataset_error(array, side, channels):
    try:
        images, kind = as_images(array, "fuzz", (side, side, channels))
    except DatasetError:
        return
    assert images.shape == (len(array), side, side, channels) and len(images) > 0
    unit = to_unit(images, kind)
    assert unit.dtype == np.float32 and unit.min() >= 0 and unit.max() <= 1
    assert {"binary": np.uint8, "8bit": np.uint8, "continuous": np.float32}[kind] == images.dtype
    if kind == "binary":
        assert set(np.unique(images)) <= {0, 1}


PIXELS = st.sampled_from([np.uint8, np.int64, np.float32, np.float64, np.bool_]).flatmap(
    lambda dtype: hnp.arrays(
        dtype,
        st.tuples(st.integers(1, 4), st.just(4)),
        elements=st.integers(0, 1) if dtype != np.float64 else st.floats(0, 1),
    )
)


@FUZZ
@given(train=PIXELS, test=PIXELS)
def test_valid_images_round_trip_through_an_npz_file(tmp_path, train, test):
    path = tmp_path / "valid.npz"
    np.savez(path, train=train, test=test)
    data = load_npz(path)
    assert data.image_shape == (2, 2, 1)
    np.testing.assert_array_equal(data.rows("train"), train.astype(np.float32))
    np.testing.assert_array_equal(data.rows("test"), test.astype(np.float32))


@FUZZ
@given(content=st.binary(max_size=3000))
def test_random_bytes_as_an_npz_file_give_a_dataset_error(tmp_path, content):
    (tmp_path / "random.npz").write_bytes(content)
    with pytest.raises(DatasetError):
        load_npz(tmp_path / "random.npz")


def valid_npz_bytes() -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, train=np.eye(4, dtype=np.uint8), test=np.ones((2, 4), np.float32))
    return buffer.getvalue()


VALID = valid_npz_bytes()


@FUZZ
@given(cut=st.integers(0, len(VALID)), position=st.integers(0, len(VALID) - 1), byte=st.integers(0, 255))
def test_a_damaged_npz_file_loads_or_gives_a_dataset_error(tmp_path, cut, position, byte):
    damaged = bytearray(VALID)
    damaged[position] = byte
    (tmp_path / "damaged.npz").write_bytes(bytes(damaged[:cut]))
    try:
        data = load_npz(tmp_path / "damaged.npz")
    except DatasetError:
        return
    assert isinstance(data, Dataset) and data.train.shape == (4, 2, 2, 1)


@FUZZ
@given(
    train=hnp.arrays(ANY_DTYPE, ANY_SHAPE),
    test=hnp.arrays(ANY_DTYPE, ANY_SHAPE),
    labels=st.none() | hnp.arrays(ANY_DTYPE, ANY_SHAPE),
)
def test_any_arrays_in_an_npz_file_load_or_give_a_dataset_error(tmp_path, train, test, labels):
    assume(train.dtype.kind != "V" and test.dtype.kind != "V")  # numpy cannot always write structured scalars back
    path = tmp_path / "arrays.npz"
    np.savez(path, train=train, test=test, **({} if labels is None else {"test_labels": labels}))
    try:
        data = load_npz(path)
        data = data.binarized() if train.size % 2 else data
    except DatasetError:
        return
    assert (
        data.pixels in ("binary", "8bit", "continuous")
        and 0 <= data.rows("train").min()
        and data.rows("train").max() <= 1
    )
