"""Property-based tests: the annotations parser and the config schema either accept their input
or raise one clear error naming the file or key; they never crash with anything else."""

from __future__ import annotations

from enum import Enum

import pandas as pd
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kombat import schema
from kombat.errors import DataError, KombatError
from kombat.recordings import parse_annotations

from .conftest import ROOT

cells = st.one_of(st.none(), st.text(max_size=8), st.floats(allow_nan=True, allow_infinity=True),
                  st.integers(-5, 100), st.sampled_from(["punch", "kick", "other", "a.mp4", "1.5", "-1"]))
columns = st.lists(st.sampled_from(["video", "start", "end", "label", "actor", "extra"]), min_size=1, max_size=6,
                   unique=True)


@settings(max_examples=200, deadline=None)
@given(columns.flatmap(lambda cols: st.tuples(st.just(cols), st.lists(st.lists(cells, min_size=len(cols),
                                                                                max_size=len(cols)), max_size=6))))
def test_annotations_parser_accepts_or_names_the_file(table):
    cols, rows = table
    frame = pd.DataFrame(rows, columns=cols)
    try:
        parsed = parse_annotations(frame, "ann.csv")
    except DataError as exc:
        assert str(exc).startswith("ann.csv: ") and "\n" not in str(exc)
        return
    # Accepted: every row is a well-formed, non-overlapping segment with a known label.
    assert set(parsed["label"]) <= {"punch", "kick", "other"}
    assert (parsed["end"] > parsed["start"]).all() and (parsed["start"] >= 0).all()
    for _, group in parsed.sort_values("start").groupby("video"):
        assert (group["start"].to_numpy()[1:] >= group["end"].to_numpy()[:-1] - 1e-9).all()


good_segments = st.lists(st.tuples(st.sampled_from(["a.mp4", "b.mp4"]), st.floats(0, 100), st.floats(0.01, 5),
                                   st.sampled_from(["punch", "kick", "other"])), min_size=1, max_size=8)


@settings(max_examples=100, deadline=None)
@given(good_segments)
def test_valid_segments_are_accepted_unless_they_overlap(segments):
    frame = pd.DataFrame([(v, s, s + d, label) for v, s, d, label in segments], columns=["video", "start", "end", "label"])
    overlapping = any(
        a[0] == b[0] and a[1] < b[1] + b[2] - 1e-9 and b[1] < a[1] + a[2] - 1e-9
        for i, a in enumerate(segments) for b in segments[i + 1:]
    )
    try:
        parse_annotations(frame, "ann.csv")
        assert not overlapping
    except DataError as exc:
        assert overlapping and "overlap" in str(exc)


BASE = yaml.safe_load((ROOT / "params.yaml").read_text())
leaf_keys = [(section, key) for section, values in BASE.items() for key, value in values.items()
             if not isinstance(value, (dict, list))]
values = st.one_of(st.none(), st.booleans(), st.integers(-10, 5000), st.floats(allow_nan=False), st.text(max_size=6))


def params_with(section: str, key: str, value) -> dict:
    """The project's params.yaml (a fresh copy) with one leaf replaced."""
    raw = yaml.safe_load(yaml.safe_dump(BASE))
    raw[section][key] = value
    return raw


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(leaf_keys), values)
def test_schema_accepts_or_names_the_key(target, value):
    section, key = target
    try:
        cfg = schema.validate(params_with(section, key, value), source="params.yaml")
    except KombatError as exc:
        message = str(exc)
        assert message.startswith("params.yaml: ") and "\n" not in message
        assert f"{section}." in message  # names the section and key (or the rule's key)
        return
    # Accepted: a value already of its field's type is kept as given (never swapped for a default or clamped).
    held = getattr(getattr(cfg, section), key)
    held = held.value if isinstance(held, Enum) else held
    if type(held) is type(value):
        assert held == value


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(leaf_keys), values)
def test_an_accepted_config_survives_the_trip_through_params_yaml(target, value):
    """What compose writes (to_dict, YAML) every stage reads back (load) as the same config."""
    try:
        cfg = schema.validate(params_with(*target, value), source="params.yaml")
    except KombatError:
        return
    assert schema.validate(yaml.safe_load(yaml.safe_dump(schema.to_dict(cfg))), source="params.yaml") == cfg


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(list(BASE)), st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
def test_schema_rejects_unknown_keys_by_name(section, key):
    raw = yaml.safe_load(yaml.safe_dump(BASE))
    if not isinstance(raw[section], dict) or key in raw[section]:
        return
    raw[section][key] = 1
    try:
        schema.validate(raw, source="params.yaml")
    except KombatError as exc:
        assert f"{section}.{key}" in str(exc)
    else:
        raise AssertionError(f"unknown key {section}.{key} was accepted")
