from edgesuite.common.precision import choose, cpu_flags


def test_cpu_flags_are_read_from_cpuinfo_text():
    text = "processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16 amx_tile\n"
    assert {"avx2", "avx512_bf16", "amx_tile"} <= cpu_flags(text)


def test_auto_picks_by_hardware():
    assert choose("auto", flags={"avx2", "avx512_bf16"}, gpu_caps=[])[0] == "mixed_bfloat16"
    assert choose("auto", flags={"avx2", "amx_bf16"}, gpu_caps=[])[0] == "mixed_bfloat16"
    assert choose("auto", flags={"avx2", "fma"}, gpu_caps=[])[0] == "float32"
    assert choose("auto", flags=set(), gpu_caps=[(8, 0)])[0] == "mixed_float16"
    assert choose("auto", flags={"avx512_bf16"}, gpu_caps=[(6, 1)])[0] == "float32"


def test_explicit_policy_is_kept():
    assert choose("mixed_bfloat16", flags=set(), gpu_caps=[]) == ("mixed_bfloat16", "as requested")


def test_the_environment_stands_in_for_the_hardware_but_not_for_explicit_flags(monkeypatch):
    import pytest

    from edgesuite.common.errors import UserInputError
    from edgesuite.common.precision import AUTO_ENV

    monkeypatch.setenv(AUTO_ENV, "mixed_bfloat16")
    assert choose("auto", gpu_caps=[]) == ("mixed_bfloat16", f"{AUTO_ENV}=mixed_bfloat16")
    assert choose("auto", flags={"avx2"}, gpu_caps=[])[0] == "float32"
    assert choose("float32") == ("float32", "as requested")
    monkeypatch.setenv(AUTO_ENV, "bf16")
    with pytest.raises(UserInputError, match=f"{AUTO_ENV}=bf16: expected host or one of float32"):
        choose("auto", gpu_caps=[])


def test_scope_restores_the_previous_policy_also_after_an_error():
    import keras
    import pytest

    from edgesuite.common.precision import scope

    before = keras.mixed_precision.global_policy().name
    with scope("mixed_bfloat16", log=lambda _: None) as policy:
        assert policy == keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == before
    with pytest.raises(RuntimeError):
        with scope("mixed_float16", log=lambda _: None):
            raise RuntimeError("a failed run")
    assert keras.mixed_precision.global_policy().name == before
