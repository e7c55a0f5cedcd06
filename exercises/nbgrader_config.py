"""nbgrader configuration of the course: run nbgrader (or `python -m autograder`) from this folder."""
import os

c = get_config()  # noqa: F821 (provided by nbgrader)

here = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = here
c.CourseDirectory.course_id = "seqmx"
# The gradebook: SQLite beside this file by default; any SQLAlchemy URL through $SEQMX_DB_URL.
c.CourseDirectory.db_url = os.environ.get("SEQMX_DB_URL", "sqlite:///" + os.path.join(here, "gradebook.db"))
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# A notebook may train a small model: 5 minutes per cell at most.
c.ExecutePreprocessor.timeout = 300
c.Execute.timeout = 300
# Feedback shows which check failed and a hint, never a hidden test's code or expected values.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.feedback.RedactHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# Autograde runs every student kernel in a bubblewrap sandbox with limits, and judges hidden
# tests outside it, from the values they recorded (autograder/executor.py, autograder/verdict.py).
c.Autograde.autograde_preprocessors = [
    "autograder.executor.SandboxedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "autograder.verdict.TrustedVerdict",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Late penalties: nbgrader's AssignLatePenalties with the course's plugin (autograder/late.py):
# 'none', 'zero', or 'percent_per_day'. Due dates: `python -m autograder due ASSIGNMENT DATE`
# (or `nbgrader db assignment add ASSIGNMENT --duedate=DATE`).
c.AssignLatePenalties.plugin_class = "autograder.late.LatePenalty"
c.LatePenalty.penalty_method = "percent_per_day"
c.LatePenalty.percent_per_day = 10.0  # of the score, per started day (24 h) late
c.LatePenalty.max_days_late = 5       # later than that: the whole score
# nbgrader's CSV export, quoted (names may hold commas and newlines): autograder/lms.py
c.ExportApp.plugin_class = "autograder.lms.QuotedCsvExportPlugin"
# A visible test runs in the student's kernel, which can be made to report a pass: its point also
# needs the hidden checks of the answers it uses to pass (autograder/verdict.py, TrustedVerdict).
c.TrustedVerdict.confirm_visible = True
