"""Late penalties: nbgrader's ``LateSubmissionPlugin`` with one more policy, a share per day late.

Configured in ``exercises/nbgrader_config.py`` (``c.AssignLatePenalties.plugin_class``), so stock
``nbgrader autograde`` applies the same penalty as ``python -m autograder grade``:

- ``none``: no penalty (nbgrader's default);
- ``zero``: a late submission scores 0;
- ``percent_per_day``: ``percent_per_day`` percent of the score per started day late (24 h),
  the whole score after ``max_days_late`` days.

Canvas's ``_LATE`` marker is a flag without a time: the grader dates such a submission
:data:`CANVAS_LATE_SECONDS` after the due date, so it is late by the smallest amount: ``zero``
gives 0, ``percent_per_day`` one day's penalty, ``none`` nothing.
"""
from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Enum, Float, Integer

CANVAS_LATE_SECONDS = 1  # a _LATE file is dated 1 s after the due date: late, by the least possible
DAY = 24 * 3600


class LatePenalty(LateSubmissionPlugin):
    """nbgrader's late-submission plugin with a per-day percentage."""

    penalty_method = Enum(("none", "zero", "percent_per_day"), default_value="none",
                          help="none, zero, or percent_per_day").tag(config=True)
    percent_per_day = Float(10.0, help="percent of the score lost per started day late").tag(config=True)
    max_days_late = Integer(5, help="after this many started days, the whole score is lost").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float):
        if self.penalty_method != "percent_per_day":
            return super().late_submission_penalty(student_id, score, total_seconds_late)
        days = math.ceil(total_seconds_late / DAY)
        if days > self.max_days_late:
            return score
        return round(score * min(1.0, days * self.percent_per_day / 100), 6)


def describe(seconds_late: float) -> str:
    """'on time', or how late, for the score table and the feedback: '2 d 03:15 late'."""
    if not seconds_late or seconds_late <= 0:
        return "on time"
    minutes = int(math.ceil(seconds_late / 60))
    days, rest = divmod(minutes, 24 * 60)
    return (f"{days} d " if days else "") + f"{rest // 60:02d}:{rest % 60:02d} late"
