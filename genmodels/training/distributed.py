"""Data-parallel training on tf.distribute (`genmodels train MODEL --distribute`, docs/distributed.md).

MultiWorkerMirroredStrategy when TF_CONFIG names several tasks (processes, on one machine or many),
MirroredStrategy over this machine's GPUs otherwise. Every replica holds the whole dataset and
takes its share of each global batch of the same seeded epoch order; its forward and backward pass
is compiled (XLA where the single-process path uses it), and the gradients are all-reduced and
Adam applied once per step outside the compiled part, since XLA cannot compile collectives on a
CPU. Random draws are of the whole global batch, each replica keeping the rows of its own images
(`replica_rows`), so a run on N replicas draws exactly the numbers the one-process run draws for
the same images and ends at its weights, up to the order of floating-point sums.
"""

from __future__ import annotations

import genmodels.core.backend  # noqa: F401  (TensorFlow, imported quietly)

import contextlib
import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from genmodels.core.errors import ConfigError, TrainingError
from genmodels.evaluation.likelihood import Share
from genmodels.nn.random import replica_rows

# Seconds a collective (an all-reduce) may wait for the other workers before it fails: a worker
# that died or cannot be reached stops the others within about this time, with one line.
COLLECTIVE_TIMEOUT_SECONDS = 60
STARTUP_TIMEOUT_SECONDS = 60  # how long a worker waits for the others to start before giving up in one line
TF_CONFIG = "TF_CONFIG"


@dataclass(frozen=True)
class Cluster:
    """What TF_CONFIG says about this process: every task's address, and which task this one is."""

    tasks: tuple[tuple[str, int, str], ...]  # (type, index, address) of every task
    task_type: str
    task_index: int

    @property
    def size(self) -> int:
        return len(self.tasks)

    @property
    def is_chief(self) -> bool:
        """The task that writes the run directory: the `chief`, or worker 0 when there is none."""
        has_chief = any(kind == "chief" for kind, _, _ in self.tasks)
        return self.task_type == "chief" or (not has_chief and self.task_type == "worker" and self.task_index == 0)

    def address_of(self, replica: int) -> str:
        """The address of the task that holds global replica `replica` (one replica per task on CPUs)."""
        ordered = sorted(self.tasks, key=lambda task: (task[0] != "chief", task[1]))
        return (
            f"{ordered[replica][0]} {ordered[replica][1]} ({ordered[replica][2]})"
            if replica < len(ordered)
            else f"replica {replica}"
        )


def cluster_from_environment() -> Cluster | None:
    """The cluster TF_CONFIG describes, or None when it is unset; a ConfigError when it is malformed."""
    text = os.environ.get(TF_CONFIG, "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        for kind in ("chief", "worker"):
            addresses = cluster.get(kind, [])
            if not isinstance(addresses, list) or not all(isinstance(address, str) for address in addresses):
                raise TypeError(f"cluster's {kind!r} must be a list of 'host:port' strings, received {addresses!r}")
        tasks = tuple(
            (kind, index, address)
            for kind in ("chief", "worker")
            for index, address in enumerate(cluster.get(kind, []))
        )
        index = task["index"]
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"task's index must be a whole number, received {index!r}")
        this = (str(task["type"]), index)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"{TF_CONFIG} must be JSON with 'cluster' (lists of addresses) and 'task' (type and index): {exc}"
        ) from None
    if this not in {(kind, index) for kind, index, _ in tasks}:
        raise ConfigError(f"{TF_CONFIG}'s task {this[0]} {this[1]} is not in its cluster ({len(tasks)} tasks).")
    return Cluster(tasks, *this)


_strategies: dict[Cluster | None, tf.distribute.Strategy] = {}


def make_strategy() -> tuple[tf.distribute.Strategy, Cluster | None]:
    """The strategy `--distribute` trains under, and the cluster (None on one machine without TF_CONFIG).

    One strategy per process and cluster, made on first use and kept: a multi-worker strategy can be
    configured only once, and two strategies over the same devices would mix their collectives."""
    cluster = cluster_from_environment()
    if cluster not in _strategies:
        _strategies[cluster] = _new_strategy(cluster)
    return _strategies[cluster], cluster


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise ConfigError(f"{TF_CONFIG} addresses are 'host:port', received {address!r}.") from None


def await_peers(cluster: Cluster, timeout: float | None = None) -> None:
    """Wait, at most `timeout` seconds (STARTUP_TIMEOUT_SECONDS), until every other task of `cluster` listens on its
    address, listening meanwhile on this task's own (only the interface TF_CONFIG names), so that each side finds
    the other. TensorFlow's own start-up waits for missing workers without end and without answering Ctrl-C; this
    wait is plain Python: interruptible, and a missing worker is one TrainingError naming it."""
    timeout = STARTUP_TIMEOUT_SECONDS if timeout is None else timeout
    mine = next(
        address for kind, index, address in cluster.tasks if (kind, index) == (cluster.task_type, cluster.task_index)
    )
    host, port = _split_address(mine)
    others = [
        (f"{kind} {index} ({address})", _split_address(address))
        for kind, index, address in cluster.tasks
        if (kind, index) != (cluster.task_type, cluster.task_index)
    ]
    try:
        listener = socket.create_server((host, port), reuse_port=False, backlog=len(cluster.tasks) * 4)
    except OSError as exc:
        raise ConfigError(
            f"this {cluster.task_type} {cluster.task_index} cannot listen on {mine}, its address in {TF_CONFIG}: {exc.strerror or exc}."
        ) from None
    deadline = time.monotonic() + timeout
    try:
        for name, target in others:
            while True:
                try:
                    socket.create_connection(target, timeout=1.0).close()
                    break
                except OSError:
                    if time.monotonic() >= deadline:
                        raise TrainingError(
                            f"{name} did not start within {timeout:g} s; start the same command on every machine "
                            f"{TF_CONFIG} names (this is {cluster.task_type} {cluster.task_index}, {mine})."
                        ) from None
                    time.sleep(0.2)
    finally:
        listener.close()


def _new_strategy(cluster: Cluster | None) -> tf.distribute.Strategy:
    if cluster is not None and cluster.size > 1:
        await_peers(cluster)
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=COLLECTIVE_TIMEOUT_SECONDS)
        try:
            return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        except RuntimeError as exc:  # "Collective ops must be configured at program startup"
            raise ConfigError(
                f"a multi-worker training must start before TensorFlow has run anything in this process "
                f"(start it in a fresh Python process): {exc}"
            ) from None
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy([device.name for device in gpus] or None)


@dataclass
class ProcessGroup:
    """The strategy a `--distribute` training runs under, the cluster (None on one machine without
    TF_CONFIG) and whether this process is the chief, the one that writes the run directory."""

    strategy: tf.distribute.Strategy
    cluster: Cluster | None

    @classmethod
    def start(cls) -> ProcessGroup:
        return cls(*make_strategy())

    @property
    def chief(self) -> bool:
        return self.cluster is None or self.cluster.is_chief

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync

    @contextlib.contextmanager
    def peers_watched(self) -> Iterator[None]:
        """Turn the error of a collective whose peer died or cannot be reached into one TrainingError line."""
        try:
            yield
        except LOST_PEER_ERRORS as exc:
            raise TrainingError(lost_peer_message(exc, self.cluster)) from None

    @property
    def rank(self) -> int:
        """This process's place among the workers (the chief first), as the strategy numbers its replicas."""
        if self.cluster is None:
            return 0
        return [(kind, index) for kind, index, _ in self.cluster.tasks].index(
            (self.cluster.task_type, self.cluster.task_index)
        )

    @property
    def workers(self) -> int:
        return 1 if self.cluster is None else self.cluster.size

    def share(self) -> WorkerShare:
        """This worker's part of an evaluation (`genmodels.evaluation.likelihood.image_log_likelihoods`'s `share`)."""
        return WorkerShare(self.rank, self.workers, self)

    def gather(self, array: np.ndarray) -> np.ndarray:
        """Every worker's `array` (the same shape on each), stacked along the first axis in worker order."""
        value = self.strategy.experimental_distribute_values_from_function(lambda context: tf.constant(array))
        with self.peers_watched():
            return tf.function(lambda v: self.strategy.gather(v, axis=0), autograph=False)(value).numpy()

    def check_same(self, *settings: object) -> None:
        """A ConfigError on every worker unless all were started with the same `settings`."""
        check_same_settings(
            self.strategy, settings_fingerprint(*settings), "settings (model, options, data or --resume)"
        )


class WorkerShare(Share):
    """A worker's part of a distributed evaluation: every `count`-th batch from `index`, put together by gathers."""

    def __init__(self, index: int, count: int, group: ProcessGroup):
        super().__init__(index, count)
        self.group = group

    def total(self, values: np.ndarray) -> np.ndarray:
        return self.group.gather(np.asarray(values, np.float64)[None, :]).sum(axis=0)

    def rows(self, rows: np.ndarray, per_worker: int) -> np.ndarray:
        padded = np.full((per_worker, rows.shape[1]), -1.0)
        padded[: len(rows)] = rows
        every = self.group.gather(padded)
        return every[every[:, 0] >= 0]


# --- the loops -----------------------------------------------------------------------------------


class DistributedLoop:
    """`StepLoop`'s interface (genmodels.training.loops) under a strategy: `run(order, batch_size)` yields, step by
    step, the running mean of every metric over the pass so far, as the model's metrics give it in one process.

    Each step runs on every replica: replica r of n takes rows [r*B//n, (r+1)*B//n) of the global
    batch of B row indices, computes its loss terms (and, training, the gradient of its share of the
    global mean cost) in a compiled function, and the gradients are summed across replicas by the
    optimizer's own all-reduce before Adam's update, once per step.
    """

    def __init__(
        self,
        strategy: tf.distribute.Strategy,
        model,
        metric_names: list[str],
        images: np.ndarray,
        *,
        training: bool,
        jit_compile: bool = True,
        transform: Callable | None = None,
        labels: np.ndarray | None = None,
        scale: float = 1.0,
        cluster: Cluster | None = None,
    ):
        self.strategy = strategy
        self.model = model
        self.names = list(metric_names)
        self.training = training
        self.cluster = cluster
        images = np.asarray(images)
        self.images = tf.constant(images.reshape(len(images), -1))
        self.labels = None if labels is None else tf.constant(np.asarray(labels, dtype=np.int32))
        self.scale = float(scale)
        self.transform = transform
        self.terms = tf.function(self._terms, jit_compile=jit_compile, reduce_retracing=True)
        self.step = tf.function(self._step, reduce_retracing=True)

    def run(self, order, batch_size: int) -> Iterator[np.ndarray]:
        order = np.asarray(order, dtype=np.int64)
        sums, count = np.zeros(len(self.names)), 0
        for start in range(0, len(order), batch_size):
            rows = tf.constant(order[start : start + batch_size], tf.int32)
            step_sums = self.strategy.experimental_local_results(self.step(rows))[0].numpy()  # summed in the step
            sums, count = sums + step_sums, count + len(rows)
            yield (sums / count)[None, :].astype(np.float32)

    def _step(self, rows):
        return self.strategy.run(self._replica, args=(rows,))

    def _replica(self, global_rows):
        context = tf.distribute.get_replica_context()
        replica, replicas = context.replica_id_in_sync_group, context.num_replicas_in_sync
        size = tf.shape(global_rows)[0]
        start, stop = (replica * size) // replicas, ((replica + 1) * size) // replicas
        rows = global_rows[start:stop]
        batch = tf.gather(self.images, rows)
        if batch.dtype != tf.float32:
            batch = tf.cast(batch, tf.float32) * self.scale if self.scale != 1.0 else tf.cast(batch, tf.float32)
        labels = None if self.labels is None else tf.gather(self.labels, rows)
        sums, gradients = self.terms(batch, labels, size, start, stop - start)
        if self.training:
            self.model.optimizer.apply(gradients, self.model.generative_variables)
        return context.all_reduce("SUM", sums)  # in the step: no collective of its own afterwards

    def _terms(self, batch, labels, size, start, rows):
        """Per-term sums over this replica's images and, training, the gradient of its share of the cost."""
        model = self.model
        with replica_rows(size, start, rows):
            if self.transform is not None:
                batch = self.transform(batch)
            with tf.GradientTape() as tape:
                terms = model.loss_terms_of(batch, labels, training=self.training)
                cost = model.replica_cost(terms, size, tf.distribute.get_replica_context().num_replicas_in_sync)
        total = tf.reduce_sum(model.objective(terms))
        sums = tf.stack([total, *[tf.reduce_sum(value) for value in terms.values()]])
        if not self.training:
            return sums, []
        return sums, tape.gradient(cost, model.generative_variables)


# what a collective raises when another worker died, cannot be reached or did not answer in time
LOST_PEER_ERRORS = (
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.CancelledError,
    tf.errors.AbortedError,
    tf.errors.InternalError,
)
TASK = re.compile(r"/job:(\w+)/replica:\d+/task:(\d+)")


def lost_peer_message(exc: Exception, cluster: Cluster | None) -> str:
    """One line naming the worker that failed (the remote target the error names), and what to do."""
    text = str(exc)
    remote = re.search(r"remote target " + TASK.pattern, text)
    who = "another worker"
    if remote and cluster is not None:
        kind, index = remote.group(1), int(remote.group(2))
        address = next(
            (address for task_kind, task_index, address in cluster.tasks if (task_kind, task_index) == (kind, index)),
            "?",
        )
        who = f"{kind} {index} ({address})"
    elif remote:
        who = f"{remote.group(1)} {remote.group(2)}"
    reason = next(
        (line.strip() for line in text.splitlines() if "aborted by" in line or "deadline" in line.lower()),
        type(exc).__name__,
    )
    reason = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", reason)
    return (
        f"{who} stopped answering ({reason}; a collective waits at most {COLLECTIVE_TIMEOUT_SECONDS} s). "
        "The last complete epoch is saved: restart every worker with --resume."
    )


def settings_fingerprint(*parts: object) -> int:
    """A 62-bit number that differs when any of `parts` (their JSON) differs: what the workers compare."""
    text = json.dumps([part for part in parts], sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 2


def check_same_settings(strategy: tf.distribute.Strategy, fingerprint: int, what: str) -> None:
    """Refuse to train unless every replica was started with the same settings (`fingerprint`)."""
    value = tf.constant([fingerprint], tf.int64)
    gathered = tf.function(lambda: strategy.gather(strategy.run(lambda: tf.identity(value)), axis=0), autograph=False)
    every = gathered().numpy()
    if len(set(every.tolist())) > 1:
        raise ConfigError(
            f"the workers were started with different {what}: give every worker the same command and data."
        )
