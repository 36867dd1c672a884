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
