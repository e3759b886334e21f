"""A scripted fake of `opencode serve` 1.18.33, for tests and benchmarks.

Tests run against the real server wherever it can produce a case. This fake is for the cases it
cannot be made to produce: faults, garbage on the event stream, malicious diffs, precise timing,
floods of events, 401s, HTML catch-all answers, a server that goes away and comes back.

It speaks the real server's v1 HTTP API closely enough for the bridge (shapes follow the OpenAPI
document of 1.18.33), keeps sessions, pending permissions and questions in memory, and publishes
the matching bus events on `GET /event` (`data: <json>\\n\\n` frames, chunked, first
`server.connected`, then `server.heartbeat` every `heartbeat_interval` seconds). It speaks V2
(`/api/*`, `GET /api/event` with numbered durable events) beside it, or alone with `v1=False`:
see v2.py.

It is stdlib only: a `ThreadingHTTPServer` in a daemon thread, one thread per connection. Each event
stream has a bounded outgoing buffer; a publisher waits while a subscriber's buffer is full (so a
flood cannot grow memory), and a subscriber that stays full for `slow_subscriber_timeout` seconds is
cut off. Scripts (prompt runs, `run_script`, `stream_events`) play in order on one worker thread.

Typical use::

    with FakeOpenCode(tmp_path, password="secret") as fake:
        session = fake.create_session()
        ...  # point the code under test at fake.url
        request = fake.wait_for_request("POST", f"/session/{session['id']}/prompt_async")

The package: values.py (what tests import: recorded requests, script steps, faults, `event`),
wire.py (HTTP and event-stream plumbing), state.py (the scripted state and the lifecycle) and
routes.py (the HTTP API over that state: `FakeOpenCode`), v2.py (the V2 dialect: its state,
events and routes). Its answers are checked against the
OpenAPI document of the real server by tests/faults/test_fake_contract.py.
"""

from tests.support.fake_opencode.routes import FakeOpenCode
from tests.support.fake_opencode.v2 import PromptCallV2, v2_event
from tests.support.fake_opencode.values import (
    VERSION,
    Fault,
    Pause,
    PromptCall,
    PromptScript,
    RecordedRequest,
    Step,
    error_body,
    event,
)

__all__ = [
    "VERSION",
    "Fault",
    "FakeOpenCode",
    "Pause",
    "PromptCall",
    "PromptCallV2",
    "PromptScript",
    "RecordedRequest",
    "Step",
    "error_body",
    "event",
    "v2_event",
]
