import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

from smclab.model.experiment import Experiment
from smclab.model.result import CounterValue, Result, Stats
from smclab.store import default_path, open_store

HOST = {"vendor": "AuthenticAMD", "family": 25, "model": 1, "model_name": "x", "tsc_hz": 2e9}


def make_result(step: int = 0, error: str | None = None) -> Result:
    return Result(
        experiment=Experiment(step=step),
        host=HOST,
        iterations=1000,
        ticks_per_iter=None if error else Stats(100.0, 95.0, 0.01),
        ns_per_iter=None if error else Stats(50.0, 47.5, 0.01),
        counters={"smc-clears": CounterValue(None, "unavailable: test")},
        error=error,
        raw_ticks=[] if error else [100_000, 95_000, 101_000],
    )


def test_round_trip(tmp_path):
    with open_store(tmp_path / "r.sqlite", create=True) as s:
        s.add(make_result(64), "run", "one")
        s.add(make_result(error="SIGILL: boom"), "run", "two")
        rows = list(s.results())
    assert [r.name for r in rows] == ["one", "two"]
    one, two = rows
    assert one.experiment == Experiment(step=64)
    assert one.experiment_data == Experiment(step=64).to_dict()
    assert one.raw_ticks == (100_000, 95_000, 101_000)
    assert one.ticks == Stats(100.0, 95.0, 0.01) and one.ns.spread == 0.01
    assert one.counters["smc-clears"] == CounterValue(None, "unavailable: test")
    assert one.host["model_name"] == "x" and one.label == "4K/64"
    assert two.error == "SIGILL: boom" and two.ticks is None and two.ns is None
    assert one.host_id == two.host_id


def test_default_path_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SMCLAB_DB", str(tmp_path / "x.sqlite"))
    assert default_path() == tmp_path / "x.sqlite"
    monkeypatch.delenv("SMCLAB_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_path() == tmp_path / "smclab" / "results.sqlite"


def test_killed_writer_keeps_every_committed_row(tmp_path):
    db = tmp_path / "k.sqlite"
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_store import make_result
        from smclab.store import open_store
        s = open_store({str(db)!r}, create=True)
        i = 0
        while True:
            s.add(make_result(64 * (i % 60)), "run", str(i))
            i += 1
            if i == 20:
                print("ready", flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    names = [int(r[0]) for r in con.execute("SELECT name FROM results ORDER BY id")]
    assert len(names) >= 20
    assert names == list(range(len(names)))  # every committed row, in order, none half-written


def test_done_keys_per_host(tmp_path):
    with open_store(tmp_path / "h.sqlite", create=True) as s:
        s.add(make_result(64), "sweep", "a", sweep_id="sw")
        other = make_result(128)
        other.host = {**HOST, "model_name": "another CPU"}
        s.add(other, "sweep", "b", sweep_id="sw")
        mine = s.host_id(HOST)
        assert s.done_keys("sw") == {
            Experiment(step=64).code_key(),
            Experiment(step=128).code_key(),
        }
        assert s.done_keys("sw", mine) == {Experiment(step=64).code_key()}


def test_exports_keep_the_stored_noise_and_the_counter_multiplexing_scale(tmp_path):
    import csv
    import io
    import json

    from smclab.model.noise import Noise
    from smclab.store.export import export_text

    r = make_result(64)
    r.counters = {"page-faults": CounterValue(0.5, scale=2.0)}
    r.noise = Noise(1.5, 1, 3.0, 20.0, 10.0, 7, 2)
    with open_store(tmp_path / "n.sqlite", create=True) as s:
        s.add(r, "run")
        (stored,) = list(s.results())
    assert stored.counters["page-faults"] == CounterValue(0.5, scale=2.0)
    (row,) = json.loads(export_text("json", [stored]))["results"]
    assert row["page-faults.scale"] == 2.0 and row["page-faults.per_iter"] == 0.5
    assert row["noise"] == r.noise.to_dict()
    (cells,) = csv.DictReader(io.StringIO(export_text("csv", [stored])))
    assert cells["page-faults.scale"] == "2.0"
    assert json.loads(cells["noise"])["other_cpu_pct"] == 20.0


def test_a_measured_counter_records_its_scale():
    """The scale a counter group reports after each repeat reaches the counter's value."""
    from smclab.run.measure import sample, summarize

    class Multiplexed:
        scale: float | None = None

        def start(self) -> None:
            self.scale = None

        def stop(self) -> dict[str, float | None]:
            self.scale = 1.25
            return {"page-faults": 10.0}

    exp = Experiment(iterations=10, repeats=3, events=("page-faults",))
    s = sample(exp, lambda n: 1000 * n, 1e9, Multiplexed(), {})
    assert s.scales == [1.25, 1.25, 1.25]
    assert summarize(exp, HOST, 1e9, s).counters["page-faults"].scale == 1.25
