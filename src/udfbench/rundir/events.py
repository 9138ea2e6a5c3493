"""Run events and their listeners: the runner says what happened, outputs decide what to do with it.

The results files, the progress display and any later output (a memory sampler, a live plot) are
equal listeners, so adding an output never touches the measuring loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from udfbench.rundir.schema import ParityRow, ResultRow, RunMeta


class RunListener:
    """Every event a run sends, each a no-op here: a listener overrides the ones it cares about."""

    def stage(self, description: str) -> None:
        """Something that is not a timed run started (a cluster, a session, the setup)."""

    def timed_run_started(self) -> None:
        """The clock of a timed run starts now."""

    def timed_run_ended(self) -> dict[str, Any]:
        """The clock stopped: an instrument returns its readings (result columns) for the run's row."""
        return {}

    def measured(self, row: ResultRow) -> None:
        """A timed run (warmup or measured) finished and was verified."""

    def case_ended(self, row: ResultRow, runs_skipped: int) -> None:
        """A case failed, failed parity or is unsupported; ``runs_skipped`` planned runs will not happen."""

    def parity_checked(self, row: ParityRow) -> None:
        """A strategy's predictions were compared row by row with the reference."""

    def meta_changed(self, meta: RunMeta) -> None:
        """The run's metadata gained something (setup timings, a session's Spark settings)."""

    def finished(self, meta: RunMeta) -> None:
        """The run ended, however it ended (``meta.status`` says how)."""


def _to_each(event: str):
    def send(self: Listeners, *args: object, **kwargs: object) -> None:
        for listener in self.listeners:
            getattr(listener, event)(*args, **kwargs)

    send.__name__ = event
    return send


class Listeners(RunListener):
    """Sends every event to each listener in turn, in the order given."""

    def __init__(self, *listeners: RunListener) -> None:
        self.listeners = listeners

    stage = _to_each("stage")
    timed_run_started = _to_each("timed_run_started")

    def timed_run_ended(self) -> dict[str, Any]:
        readings: dict[str, Any] = {}
        for listener in self.listeners:
            readings.update(listener.timed_run_ended())
        return readings

    measured = _to_each("measured")
    case_ended = _to_each("case_ended")
    parity_checked = _to_each("parity_checked")
    meta_changed = _to_each("meta_changed")
    finished = _to_each("finished")
