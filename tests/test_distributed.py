"""Data-parallel training over MPI: the same result as one process.

The tests marked ``mpi`` launch ``mpiexec -n 2`` and ``-n 3`` (uneven shares
of every batch) on tests/mpi_worker.py, each with a timeout; they skip when
mpi4py or an MPI launcher is missing (``pip install 'chainrule[mpi]'``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import distributed
from chainrule.io import read_checkpoint

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import mpi_worker  # noqa: E402  (the ranks' script, imported for its problem)


# ------------------------------------------------------ one process, no MPI
def test_init_without_mpi_is_a_single_rank():
    comm = cr.distributed.init()
    assert (comm.rank, comm.size, comm.is_root) == (0, 1, True)
    assert comm.allgather_json({"a": 1}) == [{"a": 1}]
    assert comm.bcast_json([1, 2]) == [1, 2]
    buf = np.arange(3.0)
    assert comm.allreduce_sum_(buf) is buf and buf.tolist() == [0.0, 1.0, 2.0]


def test_import_chainrule_does_not_import_mpi4py():
    code = "import sys, chainrule; chainrule.distributed.init(); print('mpi4py' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("n", [0, 1, 5, 20, 21])
def test_local_parts_cover_the_batch_once(size, n):
    batch = np.random.default_rng(0).permutation(n)
    parts, sizes = [], []
    for rank in range(size):
        comm = distributed.Communicator()
        comm.rank, comm.size = rank, size
        part, total = distributed.local_part(batch, n, comm)
        sl, total_sl = distributed.local_part(slice(0, n), n, comm)
        assert total == total_sl == n
        assert np.arange(n)[sl].tolist() == list(range(n))[sl]
        parts.extend(part.tolist())
        sizes.append(len(part))
    assert parts == batch.tolist()  # in order, each index once
    assert max(sizes) - min(sizes) <= 1


def test_sum_states_adds_nested_metric_states():
    r2 = [[1.0, [1.0, 2.0], [3.0, 4.0], 2.0], None, [0.5, [1.0, 1.0], [1.0, 1.0], 1.0]]
    assert distributed.sum_states(r2) == [1.5, [2.0, 3.0], [4.0, 5.0], 3.0]
    assert distributed.sum_states([None, None]) is None


def test_fit_with_the_trivial_communicator_is_plain_fit():
    x, y = mpi_worker.problem()
    runs = []
    for comm in (None, cr.distributed.init()):
        model = mpi_worker.network()
        h = cr.fit(
            model,
            cr.losses.CrossEntropy(),
            mpi_worker.optimizer(model, "adam"),
            x,
            y,
            epochs=2,
            batch_size=20,
            seed=3,
            verbose=0,
            comm=comm,
        )
        runs.append((h["loss"], model.state_dict()))
    assert runs[0][0] == runs[1][0]
    for k, v in runs[0][1].items():
        np.testing.assert_array_equal(v, runs[1][1][k])


def test_fit_refuses_a_communicator_from_elsewhere():
    x, y = mpi_worker.problem()
    model = mpi_worker.network()
    with pytest.raises(TypeError, match=r"comm must come from cr.distributed.init\(\)"):
        cr.fit(model, cr.losses.CrossEntropy(), cr.optim.SGD(model, lr=0.1), x, y,
               comm="world", verbose=0)  # fmt: skip


def test_gradient_reducer_on_one_rank_keeps_the_gradient():
    x, y = mpi_worker.problem(np.float64)
    model = mpi_worker.network(np.float64)
    loss = cr.losses.CrossEntropy()
    loss.forward(model.forward(x[:20]), y[:20])
    model.zero_grad()
    model.backward(loss.backward())
    before = {n: p.grad.copy() for n, p in model.named_parameters()}
    reducer = distributed.GradientReducer(model, cr.distributed.init())
    assert reducer.nbytes == 8 * (model.num_parameters() + 1)
    value = reducer.reduce(0.25, 20, 20, mean=True)
    assert value == 0.25
    for n, p in model.named_parameters():
        np.testing.assert_array_equal(p.grad, before[n])


class _BatchStatistics(cr.Module):
    """Stands in for BatchNorm: a layer that says it uses batch statistics."""

    uses_batch_statistics = True

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy


class _Buffers(_BatchStatistics):
    uses_batch_statistics = False

    def named_buffers(self, prefix=""):
        yield prefix + "running_mean", np.zeros(3)


@pytest.mark.parametrize("layer", [_BatchStatistics(), _Buffers()])
def test_layers_with_batch_statistics_are_refused(layer):
    model = cr.Sequential(cr.layers.Linear(2, 3), layer)
    with pytest.raises(
        distributed.DistributedError, match="batch statistics or running"
    ):
        distributed.refuse_batch_statistics(
            layer if isinstance(layer, _Buffers) else model
        )


def test_every_rank_draws_its_own_dropout_masks():
    draws = []
    for rank in [0, 1, 2, 0]:
        cr.seed(5)  # every rank starts from the same (broadcast) state
        dropout = cr.layers.Dropout(0.5, rng=7)
        comm = distributed.Communicator()
        comm.rank, comm.size = rank, 3
        distributed.split_random_streams(cr.Sequential(dropout), comm)
        draws.append(
            (cr.random.get_rng().random(3).tolist(), dropout.rng.random(3).tolist())
        )
    assert draws[0] == draws[3]  # derived from the seed and the rank alone
    for a in range(3):
        for b in range(a + 1, 3):
            assert draws[a][0] != draws[b][0] and draws[a][1] != draws[b][1]


def test_init_checks_blas_threads():
    with pytest.raises(
        ValueError, match="blas_threads must be a positive integer; got 0"
    ):
        cr.distributed.init(blas_threads=0)


def test_report_failure_in_one_process_prints_and_returns(capsys):
    assert distributed.report_failure("chainrule train: error: x", 2) == 2
    assert capsys.readouterr().err == "chainrule train: error: x\n"


# ------------------------------------------------------------ under mpiexec
def _mpiexec() -> str | None:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    # The launcher installed next to this Python (the mpich wheel) first: it
    # matches the MPI library that mpi4py loads.
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


MPIEXEC = _mpiexec()
mpi = pytest.mark.skipif(
    MPIEXEC is None, reason="needs mpi4py and mpiexec: pip install 'chainrule[mpi]'"
)


def launch(n: int, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [MPIEXEC, "-n", str(n), sys.executable, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _single_process(dtype, opt):
    x, y = mpi_worker.problem(dtype)
    model = mpi_worker.network(dtype)
    h = cr.fit(model, cr.losses.CrossEntropy(), mpi_worker.optimizer(model, opt), x, y,
               epochs=2, batch_size=20, seed=3, verbose=0)  # fmt: skip
    return h, model.state_dict()


@mpi
@pytest.mark.parametrize(
    "ranks, dtype, opt",
    [(2, "float32", "sgd"), (3, "float32", "adam"), (3, "float64", "sgd"),
     (2, "float64", "adam")],
)  # fmt: skip
def test_ranks_match_one_process_after_20_steps(tmp_path, ranks, dtype, opt):
    worker = str(HERE / "mpi_worker.py")
    run = launch(ranks, worker, "equivalence", str(tmp_path), dtype, opt)
    assert run.returncode == 0, run.stderr
    results = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(ranks)]
    for r in range(1, ranks):  # every rank holds the very same weights
        for k, v in results[0].items():
            np.testing.assert_array_equal(results[r][k], v, err_msg=f"rank {r}: {k}")
    history, weights = _single_process(np.dtype(dtype), opt)
    # float32: the shares' sums round differently from one batch's sum
    # (a few ulps, amplified over 20 steps); float64 to 1e-12.
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=0, atol=1e-12)
    for k, v in weights.items():
        np.testing.assert_allclose(results[0][k], v, **tol, err_msg=k)
    np.testing.assert_allclose(results[0]["loss"], history["loss"], rtol=1e-5)
    # Accuracy counts are exact: the metric is summed over the ranks.
    np.testing.assert_array_equal(results[0]["accuracy"], history["accuracy"])


@mpi
def test_an_exception_on_one_rank_ends_the_job_with_its_error(tmp_path):
    run = launch(3, str(HERE / "mpi_worker.py"), "fail", str(tmp_path), timeout=60)
    assert run.returncode != 0
    assert "ValueError: rank one cannot go on" in run.stderr
    assert "rank 1 of 3 failed" in run.stderr


@mpi
def test_a_killed_rank_ends_the_job_and_the_checkpoint_resumes(tmp_path):
    run = launch(2, str(HERE / "mpi_worker.py"), "kill", str(tmp_path), timeout=60)
    assert run.returncode != 0
    manifest, _ = read_checkpoint(tmp_path / "checkpoint.npz")  # intact
    assert (manifest["trainer"]["epoch"], manifest["trainer"]["batches_done"]) == (0, 4)
    # Resumed by one process, the run ends where one uninterrupted process does.
    x, y = mpi_worker.problem()
    finished = []
    for resume in (None, tmp_path / "checkpoint.npz"):
        model = mpi_worker.network()
        h = cr.fit(model, cr.losses.CrossEntropy(), mpi_worker.optimizer(model, "sgd"),
                   x, y, epochs=3, batch_size=20, seed=3, verbose=0, resume=resume)  # fmt: skip
        finished.append((h, model.state_dict()))
    (whole, w_whole), (resumed, w_resumed) = finished
    for k, v in w_whole.items():
        np.testing.assert_allclose(w_resumed[k], v, rtol=1e-4, atol=1e-5)
    # The checkpoint's running loss and accuracy were the global batches':
    # the interrupted epoch's figures come out as one process's.
    np.testing.assert_allclose(resumed["loss"], whole["loss"], rtol=1e-5)
    np.testing.assert_allclose(resumed["accuracy"], whole["accuracy"], atol=1.5 / 190)


@mpi
def test_dropout_differs_between_ranks_and_the_weights_do_not(tmp_path):
    run = launch(3, str(HERE / "mpi_worker.py"), "dropout", str(tmp_path), timeout=60)
    assert run.returncode == 0, run.stderr
    results = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(3)]
    for r in (1, 2):
        assert not np.array_equal(results[r]["draws"], results[0]["draws"])
        for k, v in results[0].items():
            if k != "draws":
                np.testing.assert_array_equal(results[r][k], v, err_msg=k)


@mpi
@pytest.mark.parametrize(
    "what, named", [("data", "data"), ("model", "model spec"),
                    ("version", "chainrule version")],
)  # fmt: skip
def test_mismatched_ranks_are_refused_at_start(tmp_path, what, named):
    run = launch(2, str(HERE / "mpi_worker.py"), "mismatch", str(tmp_path), what,
                 timeout=60)  # fmt: skip
    assert run.returncode != 0
    assert "the ranks do not agree on" in run.stderr
    assert f"{named} (rank 1:" in run.stderr


@mpi
def test_cli_trains_on_two_ranks_and_resumes_on_three(tmp_path):
    out = tmp_path / "run"
    args = ["-m", "chainrule", "train", "--epochs", "1", "--batch-size", "250",
            "--checkpoint-every", "5", "--out", str(out)]  # fmt: skip
    first = launch(2, *args)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("training mlp on mnist5k") == 1  # rank 0 alone
    assert "data-parallel on 2 MPI ranks" in first.stdout
    assert re.search(r"\d+ BLAS threads? per rank \(\d+ cores / 2 ranks", first.stdout)
    assert (out / "model.npz").exists() and (out / "history.csv").exists()
    again = launch(3, "-m", "chainrule", "train", "--resume",
                   str(out / "checkpoint.npz"), "--epochs", "2")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "resuming from" in again.stdout and "epoch 2/2" in again.stdout
    manifest, _ = read_checkpoint(out / "checkpoint.npz")
    assert manifest["trainer"]["epoch"] == 2


@mpi
@pytest.mark.parametrize(
    "rank1, expected",
    [
        # refused alike on every rank: rank 0 says it once
        (["--lr", "0.1"], r"^chainrule train: error: distributed: the ranks do not "
                          r"agree on optimizer \(rank 1: SGD"),
        # failed on rank 1 alone: its line, then the job is aborted
        (["--model", "nonsense"], r"^chainrule train: error: model spec 'nonsense'.*"
                                  r"\(rank 1 of 2\)$"),
    ],
)  # fmt: skip
def test_cli_errors_under_mpi_are_one_line_and_end_the_job(tmp_path, rank1, expected):
    args = ["-m", "chainrule", "train", "--epochs", "1", "--out", str(tmp_path)]
    cmd = [MPIEXEC, "-n", "1", sys.executable, *args, ":",
           "-n", "1", sys.executable, *args, *rank1]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    ours = [ln for ln in run.stderr.splitlines() if ln.startswith("chainrule")]
    assert len(ours) == 1 and re.search(expected, ours[0]), run.stderr
    assert not (tmp_path / "model.npz").exists()


@mpi
def test_a_launcher_of_another_mpi_is_refused():
    # Open MPI's launcher variable, which MPICH ignores: every process would
    # otherwise believe itself alone and train (and write) on its own.
    code = "import chainrule as cr; cr.distributed.init()"
    env = {**os.environ, "OMPI_COMM_WORLD_SIZE": "2"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, timeout=60, env=env)  # fmt: skip
    assert run.returncode != 0
    assert "the launcher started 2 ranks but MPI sees each process alone" in run.stderr
