"""jobq: an asyncio client and worker for the jobq job queue (jobqd).

    import asyncio, jobq

    async def main():
        async with jobq.Client("127.0.0.1:7070") as c:
            print(await c.run("sleep", payload=b"1s"))

    asyncio.run(main())

The API's generated stubs live in jobq.v1 (jobq_pb2, jobq_pb2_grpc).
"""

# The generated stubs (jobq/v1) may sit in another directory of the path
# than this file, as in a build tree: look for jobq/ in every path entry.
import pkgutil

__path__ = pkgutil.extend_path(__path__, __name__)

from jobq.client import Client, Job, Result  # noqa: E402
from jobq.connect import TLS, Backoff  # noqa: E402
from jobq.errors import (  # noqa: E402
    AlreadyExists, Cancelled, DeadlineExceeded, Error, FailedPrecondition,
    Internal, InvalidArgument, JobFailed, NotFound, PermanentError,
    PermissionDenied, ResourceExhausted, Unauthenticated, Unavailable)
from jobq.types import Event, Progress, Retry, Spec, State, Timings  # noqa: E402
from jobq.worker import AssignedJob, Worker  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists", "AssignedJob", "Backoff", "Cancelled", "Client",
    "DeadlineExceeded", "Error", "Event", "FailedPrecondition", "Internal",
    "InvalidArgument", "Job", "JobFailed", "NotFound", "PermanentError",
    "PermissionDenied", "Progress", "ResourceExhausted", "Result", "Retry",
    "Spec", "State", "TLS", "Timings", "Unauthenticated", "Unavailable",
    "Worker",
]
