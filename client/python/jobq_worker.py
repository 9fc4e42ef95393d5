"""The blocking worker, kept importable under its old name: it lives in
jobq.sync_worker (see there)."""

from jobq.sync_worker import Job, PermanentError, Worker, stop_on_signals

__all__ = ["Job", "PermanentError", "Worker", "stop_on_signals"]
