"""Typed errors: one class per gRPC status code that jobqd uses.

Every error carries the status `code` (a grpc.StatusCode, or None for
JobFailed) and jobqd's `message`. Catch `jobq.Error` for all of them.
"""

import grpc


class Error(Exception):
    """A call to jobqd failed: `code` is the gRPC status, `message` its text."""

    code = None

    def __init__(self, message="", code=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self):
        name = self.code.name if self.code is not None else type(self).__name__
        return f"{name}: {self.message}" if self.message else name


class InvalidArgument(Error):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(Error):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(Error):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(Error):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(Error):
    code = grpc.StatusCode.UNAUTHENTICATED


class ResourceExhausted(Error):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(Error):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unavailable(Error):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(Error):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(Error):
    code = grpc.StatusCode.CANCELLED


class Internal(Error):
    code = grpc.StatusCode.INTERNAL


class JobFailed(Error):
    """A job ended DEAD or CANCELLED; `job` is the jobq.Job as it ended."""

    def __init__(self, job):
        state = job.state.name if job.state is not None else "UNKNOWN"
        super().__init__(f"job {job.id} {state}: {job.error}".rstrip(": "))
        self.job = job


_BY_CODE = {cls.code: cls for cls in (
    InvalidArgument, NotFound, AlreadyExists, PermissionDenied,
    Unauthenticated, ResourceExhausted, FailedPrecondition, Unavailable,
    DeadlineExceeded, Cancelled, Internal)}


def from_code(code, message):
    """The typed error of a status code (Error itself for the others)."""
    cls = _BY_CODE.get(code)
    return cls(message) if cls is not None else Error(message, code)


def from_rpc(e):
    """The typed error of a grpc.RpcError (sync or aio)."""
    return from_code(e.code(), e.details() or "")


def from_code_number(number, message):
    """The typed error of a numeric google.rpc.Code (SubmitBatch results)."""
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return from_code(code, message)
    return Error(message)


# Codes after which a stream is opened again (jobqd restarting, a broken
# connection); any other error is the caller's to see.
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE,
                       grpc.StatusCode.UNKNOWN,
                       grpc.StatusCode.INTERNAL,
                       grpc.StatusCode.DEADLINE_EXCEEDED})


class PermanentError(Exception):
    """Raised by a worker's handler: a failure that no retry will cure, so
    the job goes to DEAD at once instead of using its remaining attempts."""
