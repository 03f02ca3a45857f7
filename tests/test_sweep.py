import pytest

from harness.errors import MeekError
from harness.measure.protocol import SweepSpec, expand
from harness.measure.sweep import parse_int_list, parse_pg_list, parse_str_list
from harness.results.schema import TestShape


@pytest.mark.parametrize(
    "text, expected",
    [
        ("512", [512]),
        ("128,512", [128, 512]),
        ("0-8192+2048", [0, 2048, 4096, 6144, 8192]),
        ("1-16*2", [1, 2, 4, 8, 16]),
        ("1-4", [1, 2, 3, 4]),
        ("1,2,8-32*2", [1, 2, 8, 16, 32]),
        ("4,4,2", [4, 2]),
    ],
)
def test_parse_int_list(text, expected):
    assert parse_int_list("-p", text) == expected


@pytest.mark.parametrize("text", ["", "12x", "1,,2", "8-4", "0-10*2", "1-10+0", "a-b", "1-2-3", "0-100000000"])
def test_malformed_values_name_the_option(text):
    with pytest.raises(MeekError, match="^-d: "):
        parse_int_list("-d", text)


def test_minimum_enforced():
    with pytest.raises(MeekError, match="below the minimum"):
        parse_int_list("-t", "0", minimum=1)


def test_str_and_pg_lists():
    assert parse_str_list("-ctk", "f16,Q8_0", ("f16", "q8_0")) == ["f16", "q8_0"]
    with pytest.raises(MeekError, match="unknown value 'q9'"):
        parse_str_list("-ctk", "q9", ("f16",))
    assert parse_pg_list("-pg", ["512,128"]) == [(512, 128)]
    with pytest.raises(MeekError, match="expected a pair"):
        parse_pg_list("-pg", ["512"])


def test_test_names_follow_llama_bench():
    assert TestShape(512, 0).name == "pp512"
    assert TestShape(0, 128).name == "tg128"
    assert TestShape(512, 128).name == "pp512+tg128"
    assert TestShape(512, 0, 4096).name == "pp512 @ d4096"
    assert TestShape(512, 128, 4096).n_ctx == 4736


def _spec(**overrides):
    values = dict(
        models=["a", "b"],
        n_prompt=[128, 512],
        n_gen=[0, 64],
        pg=[(16, 8)],
        n_depth=[0, 1024],
        n_threads=[1, 2],
        n_gpu_layers=[0],
        n_batch=[2048],
        n_ubatch=[512],
        flash_attn=[0, 1],
        type_k=["f16"],
        type_v=["f16"],
    )
    values.update(overrides)
    return SweepSpec(**values)


def test_expand_is_the_full_product_grouped_by_load():
    groups = expand(_spec())
    # 2 models x 2 flash-attention settings = 4 loads; each runs 4 shapes x 2 depths x 2 thread counts
    assert [(g.model, g.load.flash_attn) for g in groups] == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert all(len(g.tests) == 4 * 2 * 2 for g in groups)
    names = {t.shape.name for t in groups[0].tests}
    assert names == {"pp128", "pp512", "tg64", "pp16+tg8", "pp128 @ d1024", "pp512 @ d1024", "tg64 @ d1024", "pp16+tg8 @ d1024"}
    assert groups[0].n_ctx == 1024 + 512


def test_ubatch_never_exceeds_batch():
    group = expand(_spec(n_batch=[256], n_ubatch=[512]))[0]
    assert group.load.n_ubatch == 256


def test_nothing_to_measure():
    with pytest.raises(MeekError, match="nothing to measure"):
        expand(_spec(n_prompt=[0], n_gen=[0], pg=[]))
