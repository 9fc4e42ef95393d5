"""Plain Python views of the API's messages, and the mapping from keyword
arguments to a JobSpec.

The mapping is driven by JobSpec's descriptor: every field of the message
is a keyword, converted by its type (Duration: seconds or timedelta;
Timestamp: datetime or epoch seconds; map: dict; repeated: list), so a
field added to proto/jobq/v1/jobq.proto later is a keyword with no change
here. Only payload and retry have conversions of their own.
"""

import datetime
import enum
import json

from google.protobuf import duration_pb2, timestamp_pb2

from jobq.v1 import jobq_pb2 as pb


class State(enum.IntEnum):
    """A job's state (jobq.v1.JobState without its prefix)."""

    UNSPECIFIED = 0
    SCHEDULED = 1
    READY = 2
    RUNNING = 3
    SUCCEEDED = 4
    FAILED = 5
    DEAD = 6
    CANCELLED = 7
    WAITING = 8  # For its parents (depends_on) to succeed.

    @property
    def terminal(self):
        return self in (State.SUCCEEDED, State.DEAD, State.CANCELLED)

    @classmethod
    def of(cls, value):
        """A State from a State, its number, or a name ("dead", "DEAD")."""
        if value is None:
            return cls.UNSPECIFIED
        if isinstance(value, str):
            name = value.upper()
            if name.startswith("JOB_STATE_"):
                name = name[len("JOB_STATE_"):]
            try:
                return cls[name]
            except KeyError:
                raise ValueError(f"state: no state named {value!r}") from None
        return cls(int(value))


TERMINAL = (State.SUCCEEDED, State.DEAD, State.CANCELLED)


class Retry:
    """A RetryPolicy: attempts in all, and the backoff between them."""

    def __init__(self, max_attempts=0, initial_backoff=None, max_backoff=None,
                 multiplier=0.0):
        self.max_attempts = max_attempts
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.multiplier = multiplier

    def to_proto(self):
        r = pb.RetryPolicy(max_attempts=self.max_attempts,
                           multiplier=self.multiplier)
        if self.initial_backoff is not None:
            r.initial_backoff.CopyFrom(to_duration(self.initial_backoff))
        if self.max_backoff is not None:
            r.max_backoff.CopyFrom(to_duration(self.max_backoff))
        return r


def encode_payload(value):
    """bytes as they are, str as UTF-8, anything else as JSON."""
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, separators=(",", ":")).encode()


def to_duration(value):
    """A Duration from seconds (int or float) or a datetime.timedelta."""
    if isinstance(value, duration_pb2.Duration):
        return value
    d = duration_pb2.Duration()
    if isinstance(value, datetime.timedelta):
        d.FromTimedelta(value)
    else:
        nanos = round(float(value) * 1e9)
        d.FromNanoseconds(nanos)
    return d


def to_timestamp(value):
    """A Timestamp from a datetime (naive means UTC) or epoch seconds."""
    if isinstance(value, timestamp_pb2.Timestamp):
        return value
    t = timestamp_pb2.Timestamp()
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        t.FromNanoseconds(round(value.timestamp() * 1e9))
    else:
        t.FromNanoseconds(round(float(value) * 1e9))
    return t


def _seconds(d):
    """A Duration as float seconds."""
    return d.seconds + d.nanos / 1e9


def _time(t):
    """A Timestamp as an aware datetime; None when unset."""
    if t.seconds == 0 and t.nanos == 0:
        return None
    return datetime.datetime.fromtimestamp(t.seconds + t.nanos / 1e9,
                                           datetime.timezone.utc)


def _set_field(spec, field, value):
    """Sets one JobSpec field by its descriptor's type."""
    name = field.name
    if name == "payload":
        spec.payload = encode_payload(value)
    elif name == "retry":
        if isinstance(value, int):
            value = Retry(max_attempts=value)
        elif isinstance(value, dict):
            value = Retry(**value)
        spec.retry.CopyFrom(value.to_proto() if isinstance(value, Retry)
                            else value)
    elif name == "depends_on":
        # Parents by id, or the Job objects submit returned.
        spec.depends_on.extend(getattr(v, "id", v) for v in value)
    elif field.message_type is not None and field.message_type.GetOptions().map_entry:
        getattr(spec, name).update({str(k): str(v) for k, v in value.items()})
    elif field.label == field.LABEL_REPEATED:
        getattr(spec, name).extend(value)
    elif field.message_type is not None:
        full = field.message_type.full_name
        if full == "google.protobuf.Duration":
            getattr(spec, name).CopyFrom(to_duration(value))
        elif full == "google.protobuf.Timestamp":
            getattr(spec, name).CopyFrom(to_timestamp(value))
        else:
            getattr(spec, name).CopyFrom(value)
    elif field.enum_type is not None:
        setattr(spec, name, int(value))
    else:
        setattr(spec, name, value)


def make_spec(kind, payload=None, **fields):
    """A JobSpec from keywords named as JobSpec's fields; None leaves a field
    unset. TypeError for a keyword that is no field."""
    spec = pb.JobSpec(kind=kind)
    if payload is not None:
        spec.payload = encode_payload(payload)
    by_name = pb.JobSpec.DESCRIPTOR.fields_by_name
    for name, value in fields.items():
        field = by_name.get(name)
        if field is None or name == "kind":
            raise TypeError(f"jobq: JobSpec has no field {name!r}")
        if value is not None:
            _set_field(spec, field, value)
    return spec


class Spec:
    """One job to submit: the same keywords as Client.submit.

        jobq.Spec("resize", payload={"w": 100}, queue="images", retry=3)
    """

    def __init__(self, kind, payload=None, **fields):
        self.proto = make_spec(kind, payload, **fields)

    @property
    def kind(self):
        return self.proto.kind


class Timings:
    """The timings of a job's latest run, in seconds."""

    def __init__(self, t=None):
        t = t if t is not None else pb.Timings()
        self.queue_wait = _seconds(t.queue_wait)  # started - ready.
        self.run_time = _seconds(t.run_time)      # finished - started.
        self.total = _seconds(t.total)            # finished - created.

    def __repr__(self):
        return (f"Timings(queue_wait={self.queue_wait:.6f}, "
                f"run_time={self.run_time:.6f}, total={self.total:.6f})")


class Progress:
    def __init__(self, p):
        self.fraction = p.fraction
        self.message = p.message

    def __repr__(self):
        return f"Progress({self.fraction}, {self.message!r})"


class Event:
    """One state change of one job (a JobEvent)."""

    def __init__(self, e):
        self.proto = e
        self.job_id = e.job_id
        self.queue = e.queue
        self.state = State(e.state)
        self.attempt = e.attempt
        self.at = _time(e.at)
        self.result = e.result
        self.error = e.error
        self.exit_code = e.exit_code
        self.timings = Timings(e.timings)
        self.progress = Progress(e.progress) if e.HasField("progress") else None

    def __repr__(self):
        return (f"Event({self.job_id}, {self.state.name}, "
                f"attempt={self.attempt})")


def decode_json(data):
    return json.loads(data.decode() if data else "null")
