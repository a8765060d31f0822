import pytest

from smclab.errors import SpecError
from smclab.model.experiment import Experiment
from smclab.model.knobs import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "value"), [("4096", 4096), ("4K", 4096), ("1M", 1 << 20), ("2MiB", 2 << 20), (64, 64)]
)
def test_parse_size(text, value):
    assert parse_size(text) == value


def test_format_size():
    assert [format_size(n) for n in (4096, 1 << 20, 100)] == ["4K", "1M", "100"]


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"step": -1}, "step must be >= 0, got -1"),
        ({"buffer": 100}, "buffer must be a positive multiple of the 4K page, got 100 bytes"),
        ({"buffer": 4096, "step": 8192}, "step (8192) must be smaller than the buffer"),
        ({"barrier": "fence"}, "unknown barrier 'fence'"),
        (
            {"call": "direct", "step": 100, "layout": "near"},
            "the step must divide the buffer",
        ),
        ({"payload": 0}, "payload must be between 1 byte"),
        ({"step": 4000, "payload": 200}, "overruns the 4096-byte buffer"),
        ({"repeats": 0}, "repeats must be between 1 and 1000"),
    ],
)
def test_validation_messages(knobs, message):
    with pytest.raises(SpecError) as e:
        Experiment(**knobs)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_bad_size_text():
    with pytest.raises(SpecError, match="'4Q' is not a size"):
        parse_size("4Q")


def test_serialize_rejected_without_flag():
    exp = Experiment(barrier="serialize")
    with pytest.raises(SpecError, match="needs the CPU flag 'serialize'"):
        exp.check_host(frozenset({"sse2"}))
    exp.check_host(frozenset({"serialize"}))


def test_round_trip_and_key():
    exp = Experiment(buffer=1 << 20, step=2048, barrier="mfence", events=("page-faults",))
    again = Experiment.from_dict(exp.to_dict())
    assert again == exp
    assert again.code_key() == exp.code_key()
    assert Experiment(step=64).code_key() != Experiment(step=0).code_key()
    with pytest.raises(SpecError, match="unknown experiment field"):
        Experiment.from_dict({"bogus": 1})


def test_jit_block_validation():
    exp = Experiment(workload="jit-block", strategy="rotate-4", block=2048)
    assert exp.label() == "jit rotate-4 2K"
    with pytest.raises(SpecError, match="unknown strategy 'nope'"):
        Experiment(workload="jit-block", strategy="nope")
    with pytest.raises(SpecError, match="step only applies to the seed workload"):
        Experiment(workload="jit-block", step=64)
    with pytest.raises(SpecError, match="block must be a multiple of 64"):
        Experiment(workload="jit-block", block=100)


def test_seed_knob_combinations():
    assert Experiment(step=64, ahead=1024).label() == "4K/64 ahead=1024"
    with pytest.raises(SpecError, match="must be multiples of the step"):
        Experiment(step=64, ahead=100)
    with pytest.raises(SpecError, match="would overwrite its ret"):
        Experiment(origin=2048, ahead=-8)
    with pytest.raises(SpecError, match="moves 32-byte units"):
        Experiment(copy="avx", payload=48)
    with pytest.raises(SpecError, match="aligned destinations"):
        Experiment(copy="sse2-nt", origin=8, payload=16)
    assert Experiment(copy="avx512").required_flags() == ("avx512f",)


def test_knob_key_ignores_how_it_was_measured():
    a, b = Experiment(step=64), Experiment(step=64, iterations=2000, repeats=2, events=())
    assert a.knob_key() == b.knob_key() and a.code_key() != b.code_key()
    assert Experiment(step=128).knob_key() != a.knob_key()


def test_cross_writer_must_store_inside_the_buffer():
    with pytest.raises(SpecError, match="outside the 4096-byte buffer"):
        Experiment(cross="line", origin=4095, payload=1)
    with pytest.raises(SpecError, match="needs a fixed executed slot"):
        Experiment(cross="near", step=64)
    Experiment(cross="near", origin=2048)


#: values tried for a numeric knob (those its workload accepts are kept)
NUMBERS = (1, 2, 4, 6, 8, 16, 32, 60, 62, 64, 128, 256, 1024, 4096, 8192, 65536)
#: knobs that only mean something beside another knob: (knob, value) -> the others it needs
NEEDS = {
    "cross_period": {"cross": "line"},
    "lead": {"scheme": "ring"},
    "xmc": {"patch_kind": "cross"},
    "region_layout": {"strategy": "rotate-2"},
    "placement": {"barrier": "mfence"},
    "prefetch": {"step": 64},
    "asm_name": {},
}


def _one_knob_changed(workload: str) -> list[Experiment]:
    """Valid experiments of ``workload`` that change one knob (with what it needs)."""
    from smclab.model.experiment import field_default, field_meta
    from smclab.model.experiment import get_workload as spec

    out = []
    for name in spec(workload).knob_names:
        meta, default = field_meta(name), field_default(name)
        if meta["kind"] in ("asm", "text"):
            continue
        values = meta["choices"] if meta["choices"] else NUMBERS
        for value in values:
            if value == default:
                continue
            base = {"workload": workload, **NEEDS.get(name, {})}
            try:
                out.append(Experiment(**{**base, name: value}))
            except SpecError:
                continue
    return out


def test_two_experiments_that_differ_in_a_knob_never_share_a_label():
    """The label is derived from the knobs: every knob that differs from its default shows."""
    from smclab.model.experiment import workloads

    for workload in workloads():
        exps = set(_one_knob_changed(workload)) | {Experiment(workload=workload)}
        assert len(exps) > 3, workload
        labels = {e.label() for e in exps}
        assert len(labels) == len(exps), workload


def test_a_placement_without_a_barrier_shows_in_the_label():
    assert Experiment(placement="both").label() == "4K/0 placement=both"
    assert Experiment(barrier="mfence", placement="both").label() == "4K/0 mfence@both"
