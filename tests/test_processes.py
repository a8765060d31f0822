"""No orphaned worker: it dies with its parent, and an interruption stores nothing."""

import pytest
from conftest import run_cli


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "-1", "0"])
def test_a_timeout_that_is_no_positive_number_is_bad_input(value, tmp_path):
    p = run_cli("run", "--timeout", value, "--db", str(tmp_path / "t.sqlite"))
    assert p.returncode == 2, p.stderr
    assert "--timeout" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_a_runner_refuses_a_time_limit_that_is_no_positive_number():
    from smclab.model.knobs import SpecError
    from smclab.run.worker import Runner

    for bad in (float("nan"), float("inf"), -1.0, 0.0):
        with pytest.raises(SpecError, match="positive number of seconds"):
            Runner(timeout=bad)
