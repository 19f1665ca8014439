"""A finished run's files: its report and JSON, written into the run's folder. A run whose
files cannot be written (a full disk, a folder gone read-only) is kept anyway: the error to give
names where its results are and how to write the report later."""

from __future__ import annotations

from pathlib import Path

from .errors import ReportNotWritten
from .report.writer import write_reports
from .result import TuneResult
from .store import Store
from .templates import TemplateLibrary


def write_run_files(result: TuneResult, store: Store, out_dir: Path,
                    templates: TemplateLibrary) -> ReportNotWritten | None:
    """Write the files and set their paths on ``result``; the error to raise once the run is
    recorded as finished, or None."""
    try:
        result.report_path, result.json_path = write_reports(result, store, out_dir, templates)
    except OSError as exc:
        result.report_path = result.json_path = ""
        return ReportNotWritten(
            f"run {result.run_id} finished, but its report could not be written to {out_dir}: "
            f"{exc.strerror or exc}",
            f"its results are stored in {store.path}: see them with `prompt-tuner show "
            f"{result.run_id}`, and write the report once there is room with `prompt-tuner "
            f"report {result.run_id} --output FILE`")
    return None
