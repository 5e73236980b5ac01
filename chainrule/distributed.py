"""Data-parallel training over MPI (through mpi4py), the same result as one process.

Each of K ranks holds the whole model. For every global batch B of the epoch's
permutation (the permutation one process with the same seed draws), rank r
takes the slice B_r (sizes differ by at most one) and computes the gradient of
its own samples' loss. The gradient of the global batch is then

    g = (1/|B|) sum_{i in B} grad l_i = sum_r (|B_r| / |B|) g_r,

where g_r is rank r's mean gradient: each rank scales g_r by |B_r| / |B| into
one flat buffer (all parameters, plus the batch loss), and one in-place
``Allreduce`` sums the buffers. Every rank then holds the same g and takes the
same optimizer step, so the weights stay identical without ever being sent
again (they and the optimizer state are broadcast from rank 0 once, at the
start). A loss summed over samples (SSE) is summed, not scaled.

``import chainrule`` never imports mpi4py: :func:`init` does, and only when
the process was started by ``mpiexec`` with more than one rank (or when given
an mpi4py communicator). Everywhere else it returns a trivial communicator of
one rank, so the same script runs on a laptop and on a cluster.

Messages between ranks are NumPy buffers and JSON text, never pickles.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time

import numpy as np

from .random import get_rng

# The environment variables that MPI launchers set for the number of ranks:
# MPICH and Intel MPI (PMI_SIZE), Open MPI, PMIx launchers (srun --mpi=pmix).
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")
_BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_world: Communicator | None = None


class DistributedError(RuntimeError):
    """A failure that every rank detects alike (mismatched ranks, say): each
    rank raises it, rank 0 reports it, and the job ends without an abort."""

    all_ranks = True


class Communicator:
    """The ranks of a training job: ``rank``, ``size``, ``is_root``.

    Wraps an mpi4py communicator; with ``comm=None`` it is the trivial
    communicator of a single process, on which every collective is the
    identity. Build it with :func:`init`.

    Attributes
    ----------
    rank : int
        This process's number, 0 <= rank < size.
    size : int
        The number of processes.
    is_root : bool
        rank == 0: the rank that prints and writes files.
    nodes : int
        The number of machines the ranks run on.
    blas : str
        How many BLAS threads each rank uses and why (set by :func:`init`,
        the same on every rank; ``chainrule train`` prints it).
    """

    def __init__(self, comm=None) -> None:
        self._comm = comm
        self.rank = 0 if comm is None else comm.Get_rank()
        self.size = 1 if comm is None else comm.Get_size()
        self.nodes = 1
        self.blas = "unchanged"

    @property
    def is_root(self) -> bool:
        return self.rank == 0

    def __repr__(self) -> str:
        kind = "MPI" if self._comm is not None else "single process"
        return f"Communicator(rank={self.rank}, size={self.size}, {kind})"

    # ------------------------------------------------------------ collectives
    def allreduce_sum_(self, buffer: np.ndarray) -> np.ndarray:
        """Sum a contiguous array over all ranks, in place; returns it."""
        if self.size > 1:
            from mpi4py import MPI

            self._comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        return buffer

    def bcast_(self, buffer: np.ndarray) -> np.ndarray:
        """Overwrite a contiguous array with rank 0's, in place; returns it."""
        if self.size > 1:
            self._comm.Bcast(buffer, root=0)
        return buffer

    def allgather_json(self, obj) -> list:
        """Every rank's JSON-serialisable ``obj``, in rank order, on every rank."""
        if self.size == 1:
            return [obj]
        data = np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8)
        counts = np.empty(self.size, dtype=np.int64)
        self._comm.Allgather(np.array([len(data)], dtype=np.int64), counts)
        out = np.empty(int(counts.sum()), dtype=np.uint8)
        self._comm.Allgatherv(data, (out, counts))
        ends = np.cumsum(counts)
        return [
            json.loads(out[end - c : end].tobytes()) for c, end in zip(counts, ends)
        ]

    def bcast_json(self, obj):
        """Rank 0's JSON-serialisable ``obj`` on every rank."""
        if self.size == 1:
            return obj
        data = json.dumps(obj).encode() if self.is_root else b""
        n = self.bcast_(np.array([len(data)], dtype=np.int64))
        buf = np.frombuffer(data, dtype=np.uint8).copy() if self.is_root else None
        if buf is None:
            buf = np.empty(int(n[0]), dtype=np.uint8)
        return json.loads(self.bcast_(buf).tobytes())

    def abort(self, status: int = 1) -> None:
        """End every rank of the job now (MPI_Abort); a single process exits."""
        sys.stdout.flush()
        sys.stderr.flush()
        if self.size > 1:
            # The launcher forwards each rank's output through a pipe and stops
            # reading it at the abort: give the last lines time to get through.
            time.sleep(0.5)
            self._comm.Abort(status)
        sys.exit(status)


# ----------------------------------------------------------------- start-up
def _launched_size() -> int:
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 1


def init(comm=None, blas_threads: int | None = None) -> Communicator:
    """The communicator of this job: MPI when launched with several ranks.

    ``mpiexec -n 4 python my_training.py`` gives each of the four processes
    a communicator with its ``rank`` and ``size`` 4; ``python my_training.py``
    gives the trivial communicator (rank 0 of 1) without importing mpi4py.
    Called again, it returns the same communicator.

    When there are several ranks, it also sets each rank's BLAS threads to
    its share of the machine's cores (``blas_threads`` overrides; the
    ``OMP_NUM_THREADS`` family of variables, when set, is respected) and makes
    an uncaught exception on any rank abort the whole job instead of leaving
    the others waiting.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        Train on this communicator (a sub-communicator, say) instead of
        ``MPI.COMM_WORLD``.
    blas_threads : int, optional
        BLAS threads per rank; default cores on the node / ranks on the node.

    Returns
    -------
    Communicator

    Raises
    ------
    RuntimeError
        When started by ``mpiexec`` with several ranks but mpi4py is missing.

    Examples
    --------
    >>> import chainrule as cr
    >>> comm = cr.distributed.init()
    >>> comm.rank, comm.size, comm.is_root
    (0, 1, True)
    """
    global _world
    if blas_threads is not None and (
        isinstance(blas_threads, bool)
        or not isinstance(blas_threads, int)
        or blas_threads < 1
    ):
        raise ValueError(
            f"distributed.init: blas_threads must be a positive integer; got "
            f"{blas_threads!r}."
        )
    if comm is None and _world is not None:
        return _world
    launched = _launched_size()
    if comm is None:
        if launched <= 1 and "mpi4py.MPI" not in sys.modules:
            _world = Communicator()
            return _world
        try:
            from mpi4py import MPI
        except ImportError as exc:
            raise RuntimeError(
                f"distributed: this process was started by an MPI launcher with "
                f"{launched} ranks, but mpi4py is not installed; run "
                "pip install 'chainrule[mpi]'."
            ) from exc
        comm = MPI.COMM_WORLD
        if launched > 1 and comm.Get_size() == 1:
            # Every process would train alone, all writing the same files.
            raise RuntimeError(
                f"distributed: the launcher started {launched} ranks but MPI sees "
                "each process alone; mpiexec and mpi4py come from different MPI "
                "libraries. Use the mpiexec of the MPI that mpi4py was built with "
                "(with the mpich wheel: the one beside this Python)."
            )
    world = Communicator(comm)
    if world.size > 1:
        _node_layout(world)
        # Each rank chooses for its own node; the choices are told once.
        notes = world.allgather_json(_set_blas_threads(world, blas_threads))
        ranks_by_note: dict[str, list[int]] = {}
        for r, note in enumerate(notes):
            ranks_by_note.setdefault(note, []).append(r)
        world.blas = (
            notes[0]
            if len(ranks_by_note) == 1
            else "; ".join(
                f"ranks {', '.join(map(str, rs))}: {note}"
                for note, rs in ranks_by_note.items()
            )
        )
        _install_excepthook(world)
    if _world is None or comm is getattr(_world, "_comm", None):
        _world = world
    return world


def _node_layout(world: Communicator) -> None:
    """How many ranks share this rank's machine, and how many machines."""
    from mpi4py import MPI

    local = world._comm.Split_type(MPI.COMM_TYPE_SHARED)
    world.local_size = local.Get_size()
    local.Free()
    world.nodes = len(set(world.allgather_json(MPI.Get_processor_name())))


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _set_blas_threads(world: Communicator, threads: int | None) -> str:
    """Give each rank cores / ranks-on-its-node BLAS threads; say what was chosen."""
    set_by = [v for v in _BLAS_VARIABLES if os.environ.get(v)]
    if threads is None and set_by:
        return f"{os.environ[set_by[0]]} BLAS threads per rank (from {set_by[0]})"
    cores = _cores()
    reason = "as asked"
    if threads is None:
        threads = max(1, cores // world.local_size)
        reason = f"{cores} cores / {world.local_size} ranks on the node"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return (
            f"BLAS threads unchanged: pip install threadpoolctl (or set "
            f"OMP_NUM_THREADS={threads}) for {threads} per rank ({reason})"
        )
    threadpool_limits(limits=int(threads), user_api="blas")
    plural = "s" if threads != 1 else ""
    return f"{threads} BLAS thread{plural} per rank ({reason}, set with threadpoolctl)"


def _install_excepthook(world: Communicator) -> None:
    """An uncaught exception on one rank ends the job (the others would wait
    for it in the next collective forever)."""
    previous = sys.excepthook

    def abort_on_exception(kind, value, tb):
        if getattr(value, "all_ranks", False):
            # Raised alike everywhere (DistributedError): no rank is left
            # waiting, so each ends normally and rank 0 alone reports it.
            if world.is_root:
                previous(kind, value, tb)
            return
        previous(kind, value, tb)
        sys.stderr.write(
            f"chainrule.distributed: rank {world.rank} of {world.size} failed "
            f"({kind.__name__}); aborting the job.\n"
        )
        world.abort(1)

    sys.excepthook = abort_on_exception


def report_failure(line: str, status: int, exc: BaseException | None = None) -> int:
    """Print a command's one-line error and end the job the right way.

    In a single process, or for an error every rank raised alike
    (:class:`DistributedError`, or an exception marked ``all_ranks``), rank 0
    prints the line and the status is returned for a normal exit. Otherwise
    this rank prints the line with its number and aborts every rank, so that
    none is left waiting in a collective.
    """
    world = _world
    if world is None or world.size == 1:
        sys.stderr.write(line + "\n")
        return status
    if getattr(exc, "all_ranks", False):
        if world.is_root:
            sys.stderr.write(line + "\n")
        return status
    sys.stderr.write(f"{line} (rank {world.rank} of {world.size})\n")
    world.abort(status)
    return status  # not reached


def everywhere(exc: BaseException) -> BaseException:
    """Mark an exception as raised alike on every rank (see report_failure)."""
    exc.all_ranks = True
    return exc


# ----------------------------------------------------------- the trainer's
def local_part(batch, n: int, comm: Communicator):
    """This rank's share of a global batch and the global batch's size.

    ``batch`` is an index array (a shuffled epoch) or a slice of range(n);
    rank r gets entries [r |B| // K, (r + 1) |B| // K), so the K shares cover
    the batch once and differ in size by at most one.
    """
    if isinstance(batch, slice):
        start, stop, _ = batch.indices(n)
        size = stop - start
        lo, hi = (comm.rank * size) // comm.size, ((comm.rank + 1) * size) // comm.size
        return slice(start + lo, start + hi), size
    size = len(batch)
    lo, hi = (comm.rank * size) // comm.size, ((comm.rank + 1) * size) // comm.size
    return batch[lo:hi], size


class GradientReducer:
    """One flat buffer for every gradient and the batch loss, summed by one
    in-place ``Allreduce`` per step.

    Parameters
    ----------
    model : Module
    comm : Communicator
    """

    def __init__(self, model, comm: Communicator) -> None:
        self.comm = comm
        self.params = [p for _, p in model.named_parameters()]
        dtype = np.result_type(*(p.data.dtype for p in self.params))
        total = sum(p.size for p in self.params)
        # The last entry carries the batch loss, so the loss every callback
        # sees is the global batch's, at no extra message.
        self.buffer = np.zeros(total + 1, dtype=dtype)
        self.views = []
        offset = 0
        for p in self.params:
            self.views.append(self.buffer[offset : offset + p.size].reshape(p.shape))
            offset += p.size
        self.seconds = 0.0  # spent in Allreduce, waiting for the slowest rank included
        self.steps = 0

    @property
    def nbytes(self) -> int:
        """Bytes each rank contributes to the Allreduce per step."""
        return self.buffer.nbytes

    def reduce(self, value: float, n_local: int, n_global: int, mean: bool) -> float:
        """Replace every ``p.grad`` with the global batch's gradient; return the
        global batch's loss.

        ``value`` is this rank's loss on its ``n_local`` samples (a mean when
        ``mean``, else a sum; 0 for an empty share).
        """
        share = n_local / n_global if mean else 1.0
        for p, view in zip(self.params, self.views):
            if n_local:
                np.multiply(p.grad, share, out=view)
            else:
                view.fill(0)
        self.buffer[-1] = value * share if n_local else 0.0
        started = time.perf_counter()
        self.comm.allreduce_sum_(self.buffer)
        self.seconds += time.perf_counter() - started
        self.steps += 1
        for p, view in zip(self.params, self.views):
            np.copyto(p.grad, view)
        return float(self.buffer[-1])


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.reshape(-1).view(np.uint8))
    return h.hexdigest()[:16]


def _fingerprint(trainer) -> dict[str, str]:
    """What must be the same on every rank, one short string per item."""
    from . import __version__
    from .io import layer_spec

    model = trainer.model
    try:
        spec = json.dumps(layer_spec(model), sort_keys=True)
    except TypeError:  # a custom layer: its printout stands for it
        spec = repr(model)
    shapes = [[n, list(p.shape), p.data.dtype.str] for n, p in model.named_parameters()]
    opt = trainer.optimizer
    val = trainer.validation_data
    return {
        "chainrule version": __version__,
        "model spec": hashlib.sha256((spec + json.dumps(shapes)).encode()).hexdigest()[
            :16
        ],
        "optimizer": f"{type(opt).__name__}{sorted(opt.hyperparameters().items())}",
        "loss": repr(trainer.loss),
        "settings": json.dumps(
            [
                trainer.epochs,
                trainer.batch_size,
                trainer.shuffle,
                str(trainer.seed),
                trainer.clip_norm,
                [m.name for m in trainer.metrics],
                trainer.epoch,
                trainer.batches_done,
            ]
        ),
        "data": _digest(trainer.x, trainer.y, trainer.w),
        "validation data": "none" if val is None else _digest(*val),
    }


def check_ranks_agree(trainer) -> None:
    """Refuse to start when the ranks differ in data, model, settings or version.

    Raises
    ------
    DistributedError
        On every rank, naming each item and the ranks that differ from rank 0.
    """
    comm = trainer.comm
    prints = comm.allgather_json(_fingerprint(trainer))
    problems = []
    for key, root_value in prints[0].items():
        differ = [r for r, fp in enumerate(prints) if fp.get(key) != root_value]
        if differ:
            example = prints[differ[0]].get(key)
            problems.append(
                f"{key} (rank {', '.join(map(str, differ))}: {example}; "
                f"rank 0: {root_value})"
            )
    if problems:
        raise DistributedError(
            "distributed: the ranks do not agree on "
            + "; ".join(problems)
            + ". Every rank must run the same chainrule version on the same data, "
            "model and settings."
        )


def refuse_batch_statistics(model) -> None:
    """Refuse layers whose state depends on each rank's share of the batch.

    A layer with buffers (BatchNorm's running mean and variance) would compute
    its statistics over a rank's share instead of the global batch, and its
    buffers would drift apart on the ranks: not the same result as one process.
    """
    named_buffers = getattr(model, "named_buffers", None)
    names = [n for n, _ in named_buffers()] if callable(named_buffers) else []
    per_batch = [
        type(m).__name__
        for m in model.modules()
        if getattr(m, "uses_batch_statistics", False)
    ]
    if names or per_batch:
        what = ", ".join(names) if names else ", ".join(per_batch)
        raise DistributedError(
            f"distributed: the model has layers with batch statistics or running "
            f"buffers ({what}); data-parallel training does not synchronise them, "
            "so the ranks would train different models. Remove the BatchNorm layers "
            "or train in one process."
        )


def broadcast_state(trainer) -> None:
    """Give every rank rank 0's parameters, optimizer state and random state."""
    comm = trainer.comm
    params = [p for _, p in trainer.model.named_parameters()]
    if params:
        flat = np.concatenate([p.data.reshape(-1) for p in params])
        comm.bcast_(flat)
        offset = 0
        for p in params:
            p.data[...] = flat[offset : offset + p.size].reshape(p.shape)
            offset += p.size
    opt = trainer.optimizer.state_dict()
    layout = comm.bcast_json(
        {
            "type": opt["type"],
            "hyperparameters": opt["hyperparameters"],
            "steps": opt["steps"],
            "state": {
                name: {k: [list(a.shape), a.dtype.str] for k, a in s.items()}
                for name, s in sorted(opt["state"].items())
            },
        }
    )
    state: dict[str, dict[str, np.ndarray]] = {}
    for name, entries in layout["state"].items():
        for key, (shape, dtype) in entries.items():
            mine = opt["state"].get(name, {}).get(key)
            a = (
                np.ascontiguousarray(mine)
                if comm.is_root
                else np.empty(shape, dtype=np.dtype(dtype))
            )
            state.setdefault(name, {})[key] = comm.bcast_(a)
    layout["state"] = state
    trainer.optimizer.load_state_dict(layout)
    from . import random as cr_random

    cr_random.load_state_dict(comm.bcast_json(cr_random.state_dict()))


def split_random_streams(model, comm: Communicator) -> None:
    """Give every rank its own stream for Dropout masks, derived from the
    (broadcast, hence common) default generator and the rank number.

    Without it every rank would drop the same units of different samples.
    Modules with their own generator (``Dropout(rng=...)``) are split alike.
    """
    from . import random as cr_random

    def child(gen: np.random.Generator) -> np.random.Generator:
        entropy = int(gen.integers(2**63))
        return np.random.default_rng(
            np.random.SeedSequence(entropy, spawn_key=(comm.rank,))
        )

    cr_random._default_rng = child(get_rng(None))
    for m in model.modules():
        if isinstance(getattr(m, "rng", None), np.random.Generator):
            m.rng = child(m.rng)


def sum_states(states: list):
    """Add up metric states (dicts or lists of numbers, nested, None) elementwise."""
    first = next((s for s in states if s is not None), None)
    if first is None:
        return None
    if isinstance(first, dict):
        return {
            k: sum_states([s[k] for s in states if s is not None]) for k in first
        }
    if isinstance(first, list | tuple):
        return [
            sum_states([s[i] for s in states if s is not None])
            for i in range(len(first))
        ]
    return sum(s for s in states if s is not None)


__all__ = ["Communicator", "DistributedError", "init"]
