"""The architecture grammar: what it accepts, what it refuses (naming the token), and the shapes it gives."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spikekit.nn.spec import PRESETS, output_shapes, parse_arch, resolve_arch

suffix = st.sampled_from(["", "a", "s", "d"])  # the neuron model: the default, ALIF, CubaLIF, adLIF
linear = st.tuples(st.integers(1, 999), suffix).map(lambda ns: f"{ns[0]}{ns[1]}")
spatial = st.one_of(
    st.tuples(st.integers(1, 64), st.sampled_from([1, 3, 5, 7]), suffix).map(lambda ck: f"{ck[0]}c{ck[1]}{ck[2]}"),
    st.tuples(st.sampled_from("pas"), st.integers(2, 4)).map(lambda pk: f"{pk[0]}{pk[1]}"),
)


@given(st.lists(spatial, max_size=4), st.lists(linear, min_size=1, max_size=3))
def test_valid_specs_parse_to_their_tokens_with_one_implied_flatten(front: list[str], back: list[str]) -> None:
    layers = parse_arch("-".join(front + back))
    assert [layer.token for layer in layers if layer.kind != "flatten"] == front + back
    kinds = [layer.kind for layer in layers]
    assert kinds.count("flatten") == (1 if front else 0)
    for layer in layers:
        if layer.kind in ("linear", "conv"):
            assert layer.neuron == {"a": "alif", "s": "cuba", "d": "adlif", "b": "brf"}.get(layer.token[-1], "")
    if front:
        assert kinds.index("flatten") == len(front)


@given(st.lists(linear, min_size=1, max_size=3), st.text(alphabet="xyzq_+.c", min_size=1, max_size=4))
def test_an_unknown_token_is_named(back: list[str], junk: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"bad layer '{junk}'")):
        parse_arch("-".join([junk, *back]))


@pytest.mark.parametrize(("spec", "message"), [
    ("12c4-10", "layer '12c4': the kernel size must be odd"),
    ("p1-10", "layer 'p1': a pooling window must be >= 2"),
    ("0c3-10", "layer '0c3': a layer needs at least one neuron"),
    ("128-0", "layer '0': a layer needs at least one neuron"),
    ("128-12c5-10", "layer '12c5' cannot follow a fully connected layer"),
    ("12c5-p2", "the last layer must be fully connected"),
    ("128--10", "empty layer"),
    ("128as-10", "bad layer '128as'"),
    ("99999999999999999999-10", "layer '99999999999999999999': sizes above 10000000"),
    ("", "non-empty string"),
])
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_arch(spec)


def test_output_shapes_of_the_conv_example() -> None:
    shapes = output_shapes(parse_arch("12c5-p2-32c5-a2-10"), (1, 28, 28))
    assert shapes == [(12, 28, 28), (12, 14, 14), (32, 14, 14), (32, 7, 7), (1568,), (10,)]


@pytest.mark.parametrize(("spec", "shape", "message"), [
    ("4c3-10", (784,), "layer '4c3' needs image input"),
    ("p8-10", (1, 4, 4), "layer 'p8': a 8x8 window does not fit the 4x4 image"),
    ("1c99-10", (1, 28, 28), "layer '1c99': a 99x99 kernel is larger than the 28x28 image it gets; use an odd "
                             "kernel of at most 27"),
    ("2c7-10", (1, 5, 6), "an odd kernel of at most 5"),
])
def test_shape_errors_name_the_layer(spec: str, shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        output_shapes(parse_arch(spec), shape)


def test_presets_resolve_to_valid_specs() -> None:
    assert resolve_arch("128-10") == "128-10"
    for name, preset in PRESETS.items():
        assert resolve_arch(name) == preset.arch
        output_shapes(parse_arch(preset.arch), (1, 28, 28))
