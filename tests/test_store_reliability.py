"""Nothing silently wrong with a store (issue 24): a new SQLite store under concurrent first
use, read-only stores, damaged stores. The fault cases are one table each."""

import multiprocessing
import os
import traceback

from test_store import make_result

from smclab.store import open_store

#: processes x rounds of the first-use stress test: the old code (schema made in steps a second
#: opener saw half-done, a failed opener deleting the file another one was creating) failed in
#: most runs at this size, in about a second
WRITERS, ROUNDS = 6, 12


def _first_use(path: str, barrier, i: int) -> None:
    try:
        barrier.wait(timeout=30)
        with open_store(path, create=True) as s:
            s.add(make_result(64 * i), "run", str(i))
    except BaseException:
        with open(f"{path}.{i}.error", "w") as f:
            f.write(traceback.format_exc().strip().splitlines()[-1])
        os._exit(1)
    os._exit(0)


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return "(no message)"


def test_concurrent_first_use_of_a_new_store_loses_nothing(tmp_path):
    ctx = multiprocessing.get_context("fork")
    for r in range(ROUNDS):
        os.mkdir(tmp_path / f"new{r}")
        path = str(tmp_path / f"new{r}" / "store.sqlite")
        barrier = ctx.Barrier(WRITERS)
        procs = [ctx.Process(target=_first_use, args=(path, barrier, i)) for i in range(WRITERS)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=60)
        failed = [
            (i, p.exitcode, _read(f"{path}.{i}.error")) for i, p in enumerate(procs) if p.exitcode
        ]
        assert not failed, f"round {r}: {failed}"
        with open_store(path, create=False) as s:
            names = sorted(x.name for x in s.results())
        assert names == sorted(str(i) for i in range(WRITERS)), f"round {r}"
        assert sorted(os.listdir(os.path.dirname(path))) == ["store.sqlite"], (
            f"round {r}: {os.listdir(os.path.dirname(path))}"
        )
