"""The polling schedule: how long ``wait`` sleeps, decided from the task's own readings (pure).

``PollSchedule`` decides from ``Evidence``, which ``wait_flow`` (``_polling.py``) builds:

- Queue time is not work: the work clock starts when the task is last seen ``pending``.
- The expected end comes from the progress *rate* between readings whose progress differs, never
  from the creation time. A rate is extrapolated at most as far ahead as the work already seen.
  The first working reading alone may only bring the next poll forward: the work began after the
  last ``pending`` reading, so its progress means a rate at least that fast if progress is even.
- While that rate puts the end far, it sleeps half the time left; near it, down to
  ``min_interval``; past it (a stall), the sleep grows back to ``max_interval``. Once progress has
  gone backwards (noise, or a restart), a rate backs no sleep longer than a blind one.
- Queued: a fresh task (every task starts ``pending``) sleeps three tenths of its estimate; the
  longer it stays queued, the longer its sleeps (half the time queued), up to three tenths of the
  estimate plus ``max_interval`` (and 1.5 ``max_interval``): a long queue is not polled faster
  because the work is short.
- Without a rate, ``estimated_time`` only says how soon the task cannot be done (three tenths of
  it): sleeps of up to 1.5 ``max_interval`` until then, ``max_interval`` after. Nothing says the
  end is at the estimate rather than around it, and when nothing is known a fixed interval is the
  best plan there is.
- So no sleep exceeds 1.5 ``max_interval`` (9 s by default, the lag one is willing to pay) unless
  a measured rate says the end is further away than that.

``benchmarks/polling.py`` measures it against every fixed interval on task models that break
each of these assumptions in turn (queueing, stalls, steps, biased estimates, latency, 429s).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Evidence", "PollSchedule", "Reading"]


@dataclass(frozen=True)
class Reading:
    """One poll's answer: when the server read the task (``clock`` seconds), its status and progress."""

    at: float
    status: str
    progress: int


@dataclass
class Evidence:
    """What the flow knows about one task: its estimate and its own history of readings.

    Built by ``wait_flow`` (``add`` for each successful poll) and read by ``PollSchedule``. Only the
    task's own readings count; nothing here assumes how fast tasks go in general.
    """

    started: float
    """The ``clock`` value at which the wait started (or the task was created, when known)."""
    estimate: float | None = None
    """The create response's ``estimated_time``, if any."""
    work_from: float | None = None
    """The earliest the work may have started (the last ``pending`` reading); None while queued."""
    changes: list[Reading] = field(default_factory=list)
    """The first reading of each new progress value while working (the evidence of a rate)."""
    pending_at: float | None = None
    """When the task was last seen ``pending``."""
    polls: int = 0
    """Polls made so far, failed ones included."""
    regressed: bool = False
    """Progress went backwards at least once: a rate from such readings backs no long sleep."""
    left_queue: Reading | None = None
    """The last ``pending`` reading before work was seen (progress 0 then): the work began after it."""

    def add(self, reading: Reading) -> None:
        """Record a reading. Queue time is not work: the work clock starts when ``pending`` ends."""
        if reading.status == "pending":
            self.pending_at = reading.at
        elif self.work_from is None:
            self.work_from = self.started if self.pending_at is None else self.pending_at
            if self.pending_at is not None:
                self.left_queue = Reading(self.pending_at, "pending", 0)
            self.changes.append(reading)
        elif reading.progress != self.changes[-1].progress:
            self.regressed = self.regressed or reading.progress < self.changes[-1].progress
            self.changes.append(reading)


@dataclass(frozen=True)
class PollSchedule:
    """How long to sleep between polls, decided from the task's own readings (seconds).

    Args:
        min_interval: the shortest sleep.
        max_interval: the longest sleep while the end is near, past or unknown: about the worst lag.
        far_fraction: while a progress rate puts the end far, sleep this fraction of the time left.
        max_far_interval: the longest sleep ever; default ``12 * max_interval``.
        estimate_trust: without a progress rate, the task is taken to need at least this fraction of
            its ``estimated_time`` of work: until then sleeps are up to ``max_blind_interval``, after
            it ``max_interval``.
        rate_horizon: a rate seen over ``w`` seconds of work is extrapolated at most
            ``rate_horizon * w`` ahead in one sleep (progress may speed up).
        overdue_growth: past the expected end, the sleep is ``min_interval`` plus this fraction of
            the time overdue (up to ``max_interval``).
        resolution: less time than this before an expected end counts as having reached it.
        default_estimate: the ``estimated_time`` to assume for a task that brought none.
        max_blind_interval: the longest sleep that no progress rate backs (an estimate alone, or a
            queued task); default ``1.5 * max_interval``. It bounds the lag whatever the estimate says.
    """

    min_interval: float = 1.5
    max_interval: float = 6.0
    far_fraction: float = 0.5
    max_far_interval: float | None = None
    estimate_trust: float = 0.3
    rate_horizon: float = 1.0
    overdue_growth: float = 1.0
    resolution: float = 0.05
    default_estimate: float | None = None
    max_blind_interval: float | None = None

    @property
    def blind_cap(self) -> float:
        """The longest sleep that no progress rate backs."""
        return 1.5 * self.max_interval if self.max_blind_interval is None else self.max_blind_interval

    def estimate(self, evidence: Evidence) -> float | None:
        """The task's own ``estimated_time``, else ``default_estimate``."""
        return self.default_estimate if evidence.estimate is None else evidence.estimate

    @property
    def far_cap(self) -> float:
        """The longest sleep ever."""
        return 12 * self.max_interval if self.max_far_interval is None else self.max_far_interval

    def rate(self, evidence: Evidence) -> float | None:
        """Return the progress rate (percent per second) that readings which differ imply, or None.

        The faster of the last step's rate and the rate over all steps: progress that speeds up is
        seen at once, and a rate that slows down errs towards polling sooner. Each value is dated by
        its first reading, so the unknown moment of each change biases both ends alike.
        """
        changes = evidence.changes
        if len(changes) < 2:
            return None
        first, before, last = changes[0], changes[-2], changes[-1]
        rates = [(b.progress - a.progress) / (b.at - a.at) for a, b in ((first, last), (before, last)) if b.at > a.at]
        positive = [rate for rate in rates if rate > 0]
        return max(positive) if positive else None

    def expected_end(self, evidence: Evidence) -> float | None:
        """Return the ``clock`` value at which the task should end: from progress, else the estimate."""
        rate = self.rate(evidence)
        if rate is not None:
            last = evidence.changes[-1]
            return last.at + (100 - last.progress) / rate
        estimate = self.estimate(evidence)
        if evidence.work_from is not None and estimate is not None:
            return evidence.work_from + estimate
        return None

    def next_delay(self, evidence: Evidence, now: float) -> float:
        """Return the sleep before the next poll, ``now`` being the ``clock`` value."""
        return float(min(max(self._delay(evidence, now), self.min_interval), self.far_cap))

    def _delay(self, evidence: Evidence, now: float) -> float:
        estimate = self.estimate(evidence)
        if evidence.work_from is None:
            # Queued: the work still to come takes at least estimate_trust of the estimate, so a sleep
            # that long misses nothing. Every new task starts pending, so that is all a fresh task gets;
            # the longer it has been queued, the longer the queue is likely to go on, so the sleep grows
            # with the time queued (far_fraction of it), up to that plus the usual lag (max_interval).
            if not estimate:
                return self.max_interval
            earliest = self.estimate_trust * estimate
            queued = max(0.0, now - evidence.started)
            return min(max(earliest, self.far_fraction * queued), earliest + self.max_interval, self.blind_cap)
        worked = now - evidence.work_from
        rate = self.rate(evidence)
        if rate is not None:
            last = evidence.changes[-1]
            left = last.at + (100 - last.progress) / rate - now
            if left <= self.resolution:
                return self._overdue(-left)
            far = self.far_fraction * left
            if far <= self.max_interval:
                return far
            if evidence.regressed:  # progress that went backwards is noise, not a rate to sleep on
                return min(far, self.blind_cap)
            return min(far, max(self.rate_horizon * worked, self.max_interval))
        return min(self._blind(evidence, worked, estimate), self._first_step(evidence, now))

    def _blind(self, evidence: Evidence, worked: float, estimate: float | None) -> float:
        """The sleep when no rate is known: from the estimate, else as if overdue."""
        if estimate:
            before_any_end = self.estimate_trust * estimate - worked
            if before_any_end > self.resolution:
                return min(before_any_end, self.blind_cap)
            # Nothing says the end is at the estimate rather than anywhere around it: poll evenly
            # (a burst at the estimate, or a back-off after it, measured worse on the benchmark).
            return self.max_interval
        return self._overdue(worked)

    def _first_step(self, evidence: Evidence, now: float) -> float:
        """A sooner poll after the first working reading, when the progress it shows says the end is near.

        The work began after the last ``pending`` reading, so the progress made since then means a rate
        at least that fast if progress is even: half the time it leaves. It only ever shortens a sleep:
        progress that stalls after its first step costs a poll or two, never lag.
        """
        start = evidence.left_queue
        if len(evidence.changes) != 1 or start is None:
            return self.far_cap
        first = evidence.changes[0]
        if first.progress <= 0 or first.at <= start.at:
            return self.far_cap
        rate = first.progress / (first.at - start.at)
        left = first.at + (100 - first.progress) / rate - now
        # Past that end, progress has stalled (or was never even): the estimate decides, as before.
        return self.far_fraction * left if left > self.resolution else self.far_cap

    def _overdue(self, overdue: float) -> float:
        return min(self.min_interval + self.overdue_growth * overdue, self.max_interval)
