"""What the editor shows about a run, from the events OpenCode sends. Time is passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.core.runs import (
    MAX_REMEMBERED_MESSAGES,
    MIN_REPORT_INTERVAL,
    Action,
    Answer,
    Failed,
    FlushLater,
    Logged,
    RunProgress,
    RunTracker,
    Status,
    Unfinished,
    describe_failure,
)
from bridge.opencode.events import Event, SessionError, parse_event
from bridge.opencode.models import RunError

ROOT = Path("/work/project")
S = "ses_1"


def ev(kind: str, **properties: Any) -> Event:
    """The typed event the stream makes of this wire event."""
    return parse_event({"id": "evt_x", "type": kind, "properties": properties})


def busy(session: str = S) -> Event:
    return ev("session.status", sessionID=session, status={"type": "busy"})


def idle(session: str = S) -> Event:
    return ev("session.status", sessionID=session, status={"type": "idle"})


def message(message_id: str, role: str, session: str = S) -> Event:
    return ev("message.updated", sessionID=session, info={"id": message_id, "role": role})


def text_part(text: str, part: str = "prt_1", msg: str = "msg_a", session: str = S) -> Event:
    return ev(
        "message.part.updated",
        sessionID=session,
        part={"id": part, "sessionID": session, "messageID": msg, "type": "text", "text": text},
    )


def delta(
    text: str, part: str = "prt_1", msg: str = "msg_a", session: str = S, field: str = "text"
) -> Event:
    return ev(
        "message.part.delta",
        sessionID=session,
        messageID=msg,
        partID=part,
        field=field,
        delta=text,
    )


def tool(name: str, status: str, tool_input: dict[str, Any], **state: Any) -> Event:
    return ev(
        "message.part.updated",
        sessionID=S,
        part={
            "id": f"prt_{name}",
            "sessionID": S,
            "messageID": "msg_a",
            "type": "tool",
            "tool": name,
            "state": {"status": status, "input": tool_input, **state},
        },
    )


def running(tracker: RunTracker, session: str = S) -> RunTracker:
    tracker.on_event(busy(session), 0.0)
    return tracker


# --- a run from start to end -----------------------------------------------------------------


def test_busy_begins_progress_and_sets_status() -> None:
    tracker = RunTracker(ROOT)
    assert tracker.on_event(busy(), 0.0) == [RunProgress("begin", S, "working"), Status("busy", S)]
    assert tracker.on_event(busy(), 0.5) == []  # still the same run


def test_a_whole_run_that_the_editor_asked_for() -> None:
    tracker = RunTracker(ROOT)
    tracker.expect_answer(S)
    tracker.on_event(busy(), 0.0)
    tracker.on_event(message("msg_a", "assistant"), 0.1)
    assert tracker.on_event(delta("The answer "), 1.0) == [RunProgress("report", S, "The answer")]
    assert tracker.on_event(delta("is 42."), 2.0) == [RunProgress("report", S, "The answer is 42.")]
    assert tracker.on_event(idle(), 3.0) == [
        RunProgress("end", S, "Done: The answer is 42."),
        Answer(S, "The answer is 42."),
        Status("idle", S, "The answer is 42."),
    ]
    assert tracker.runs == {} and tracker.asked == set()


def test_a_run_nobody_asked_for_ends_without_an_answer() -> None:
    tracker = running(RunTracker(ROOT))
    tracker.on_event(text_part("Hello\n\nthere"), 1.0)
    assert tracker.on_event(idle(), 2.0) == [
        RunProgress("end", S, "Done: Hello there"),
        Status("idle", S, "Hello there"),
    ]


def test_session_idle_event_ends_the_run_too() -> None:
    tracker = running(RunTracker(ROOT))
    actions = tracker.on_event(ev("session.idle", sessionID=S), 1.0)
    assert actions == [RunProgress("end", S, "Done: 0 steps"), Status("idle", S, "0 steps")]
    assert tracker.on_event(ev("session.idle", sessionID=S), 2.0) == []  # nothing twice


def test_idle_for_a_session_that_never_ran_does_nothing() -> None:
    assert RunTracker(ROOT).on_event(idle("ses_other"), 0.0) == []


def test_answer_joins_text_parts_and_summary_is_one_line() -> None:
    tracker = running(RunTracker(ROOT))
    tracker.expect_answer(S)
    tracker.on_event(text_part("First part.", part="p1"), 1.0)
    tracker.on_event(text_part("   ", part="p2"), 1.0)
    tracker.on_event(text_part("Second " + "word " * 40, part="p3"), 1.0)
    actions = tracker.on_event(idle(), 2.0)
    answer = next(a for a in actions if isinstance(a, Answer))
    assert answer.text == "First part.\n\nSecond " + "word " * 40
    end = actions[0]
    assert isinstance(end, RunProgress) and end.stage == "end"
    summary = end.message.removeprefix("Done: ")
    assert "\n" not in summary and len(summary) <= 80 and summary.endswith("…")


def test_summary_counts_steps_when_there_is_no_text() -> None:
    tracker = running(RunTracker(ROOT))
    tracker.on_event(tool("bash", "running", {"command": "ls"}), 1.0)
    tracker.on_event(tool("read", "running", {"filePath": "/work/project/a.py"}), 2.0)
    assert tracker.on_event(idle(), 3.0)[0] == RunProgress("end", S, "Done: 2 steps")


def test_report_shows_the_tail_of_long_text() -> None:
    tracker = running(RunTracker(ROOT))
    [report] = tracker.on_event(delta("word " * 100 + "END"), 1.0)
    assert isinstance(report, RunProgress) and report.stage == "report"
    assert report.message.startswith("…") and report.message.endswith("word END")
    assert len(report.message) <= 80


def test_text_part_updates_are_remembered_but_not_reported() -> None:
    tracker = running(RunTracker(ROOT))
    assert tracker.on_event(text_part("Hello"), 1.0) == []
    assert tracker.on_event(delta(" world"), 2.0) == [RunProgress("report", S, "Hello world")]


def test_deltas_of_other_fields_are_not_text() -> None:
    tracker = running(RunTracker(ROOT))
    assert tracker.on_event(delta("thinking…", field="reasoning"), 1.0) == []


# --- steps -----------------------------------------------------------------------------------


def test_running_tools_are_described_as_a_person_would() -> None:
    tracker = running(RunTracker(ROOT))
    assert tracker.on_event(
        tool("edit", "running", {"filePath": "/work/project/src/a.py"}), 1.0
    ) == [RunProgress("report", S, "edit src/a.py")]
    assert tracker.on_event(tool("bash", "running", {"command": "pytest -q"}), 2.0) == [
        RunProgress("report", S, "bash: pytest -q")
    ]
    assert tracker.on_event(tool("read", "running", {"filePath": "/etc/hosts"}), 3.0) == [
        RunProgress("report", S, "read /etc/hosts")  # outside the root: as it is
    ]
    assert tracker.on_event(tool("grep", "running", {"pattern": "TODO"}), 4.0) == [
        RunProgress("report", S, "grep TODO")
    ]
    assert tracker.on_event(tool("todowrite", "running", {}, title="3 todos"), 5.0) == [
        RunProgress("report", S, "todowrite: 3 todos")
    ]


def test_long_commands_are_cut_to_one_line() -> None:
    tracker = running(RunTracker(ROOT))
    [report] = tracker.on_event(tool("bash", "running", {"command": "echo a\n" * 30}), 1.0)
    assert isinstance(report, RunProgress) and report.stage == "report"
    assert "\n" not in report.message and report.message.endswith("…")


def test_failed_tool_is_reported_and_pending_or_completed_are_not() -> None:
    tracker = running(RunTracker(ROOT))
    assert tracker.on_event(tool("bash", "pending", {"command": "make"}), 1.0) == []
    assert tracker.on_event(tool("bash", "error", {"command": "make"}), 2.0) == [
        RunProgress("report", S, "bash: make failed")
    ]
    assert tracker.on_event(tool("bash", "completed", {"command": "make"}), 3.0) == []


def test_retry_is_reported_during_a_run() -> None:
    tracker = running(RunTracker(ROOT))
    event = ev(
        "session.status",
        sessionID=S,
        status={"type": "retry", "attempt": 2, "message": "rate limited", "next": 1},
    )
    assert tracker.on_event(event, 1.0) == [
        RunProgress("report", S, "retrying (attempt 2): rate limited")
    ]


# --- the user's own message ------------------------------------------------------------------


def test_parts_of_the_users_message_are_not_the_answer() -> None:
    tracker = running(RunTracker(ROOT))
    tracker.expect_answer(S)
    tracker.on_event(message("msg_user", "user"), 0.1)
    tracker.on_event(message("msg_bot", "assistant"), 0.2)
    assert tracker.on_event(text_part("Explain src/a.py", part="pu", msg="msg_user"), 1.0) == []
    assert tracker.on_event(delta(" please", part="pu", msg="msg_user"), 2.0) == []
    tracker.on_event(delta("It adds.", part="pb", msg="msg_bot"), 3.0)
    actions = tracker.on_event(idle(), 4.0)
    assert Answer(S, "It adds.") in actions


# --- failures --------------------------------------------------------------------------------


def test_session_error_shows_the_providers_message() -> None:
    tracker = running(RunTracker(ROOT))
    event = ev(
        "session.error",
        sessionID=S,
        error={"name": "APIError", "data": {"message": "Invalid API key"}},
    )
    assert tracker.on_event(event, 1.0) == [
        Failed(S, "Invalid API key"),
        Status("error", S, "Invalid API key"),
    ]


def test_session_error_without_a_message_names_the_error() -> None:
    actions = RunTracker(ROOT).on_event(
        ev("session.error", error={"name": "ProviderAuthError", "data": {}}), 0.0
    )
    assert actions == [
        Failed(None, "ProviderAuthError"),
        Status("error", None, "ProviderAuthError"),
    ]
    assert RunTracker(ROOT).on_event(ev("session.error"), 0.0)[0] == Failed(None, "the run failed")


ABORTED = ev(
    "session.error",
    sessionID=S,
    error={"name": "MessageAbortedError", "data": {"message": "Aborted"}},
)


def test_abort_is_not_a_failure() -> None:
    tracker = running(RunTracker(ROOT))
    assert tracker.on_event(ABORTED, 1.0) == []
    first = tracker.on_event(idle(), 2.0)[0]
    assert isinstance(first, RunProgress) and first.stage == "end"


def test_an_aborted_run_says_it_was_stopped_not_that_its_partial_text_is_the_answer() -> None:
    tracker = RunTracker(ROOT)
    tracker.expect_answer(S)
    tracker.on_event(busy(), 0.0)
    tracker.on_event(message("msg_a", "assistant"), 0.1)
    tracker.on_event(delta("one two"), 1.0)
    assert tracker.on_event(ABORTED, 2.0) == []
    assert tracker.on_event(idle(), 2.1) == [
        RunProgress("end", S, "Stopped"),
        Unfinished(S, "one two", stopped=True),
        Status("idle", S, "stopped"),
    ]
    assert tracker.asked == set()


def test_a_run_aborted_that_nobody_here_asked_for_is_stopped_too() -> None:
    tracker = running(RunTracker(ROOT))
    tracker.on_event(text_part("one two"), 1.0)
    tracker.on_event(ABORTED, 2.0)
    assert tracker.on_event(idle(), 2.1) == [
        RunProgress("end", S, "Stopped"),
        Status("idle", S, "stopped"),
    ]


def test_the_next_run_after_an_abort_answers_normally() -> None:
    tracker = running(RunTracker(ROOT))
    tracker.on_event(ABORTED, 1.0)
    tracker.on_event(idle(), 1.1)
    tracker.expect_answer(S)
    tracker.on_event(busy(), 2.0)
    tracker.on_event(text_part("Fine."), 3.0)
    assert Answer(S, "Fine.") in tracker.on_event(idle(), 4.0)


# --- what the person reads about a failure ---------------------------------------------------

STACK = (
    "ProviderModelNotFoundError: Model not found: anthropic/claude-sonnet-4-5. Did you mean: "
    "claude-sonnet-4-5, claude-sonnet-4-5-20250929?\n"
    "    at <anonymous> (/$bunfs/root/chunk-dn9bw1yz.js:439:94416)\n"
    "    at SessionPrompt.getModel (/$bunfs/root/chunk-p1c43e92.js:1142:11505)"
)
MISSING = (
    "the server has no model anthropic/claude-sonnet-4-5; opencode.model.select lists the "
    "ones it has."
)


def model_error(message: str) -> Event:
    error = {"name": "UnknownError", "data": {"message": message}}
    return ev("session.error", sessionID=S, error=error)


def test_an_unknown_model_is_one_sentence_naming_it_and_how_to_list_the_others() -> None:
    # What OpenCode 1.18.33 sends for a model it has no provider for: the error, the idle,
    # then the same error again with its name and a JavaScript stack trace.
    tracker = RunTracker(ROOT)
    tracker.expect_answer(S)
    tracker.on_event(busy(), 0.0)
    first = model_error(
        "Model not found: anthropic/claude-sonnet-4-5. Did you mean: claude-sonnet-4-5, "
        "claude-sonnet-4-5-20250929?"
    )
    assert isinstance(first, SessionError) and first.error is not None
    assert tracker.on_event(first, 1.0) == [
        Failed(S, MISSING, first.error.message),
        Status("error", S, MISSING),
    ]
    # The run ends as failed: not "Done: 0 steps", and the status keeps the reason.
    assert tracker.on_event(idle(), 1.1) == [
        RunProgress("end", S, "Failed"),
        Unfinished(S, "", stopped=False),
        Status("error", S, MISSING),
    ]
    [again] = tracker.on_event(model_error(STACK), 1.2)  # told once; the trace is for the log
    assert isinstance(again, Logged) and "at SessionPrompt.getModel" in again.message


def test_a_stack_trace_alone_still_gives_one_line() -> None:
    trace = "TypeError: x is undefined\n    at f (a.js:1:2)"
    error = RunError.from_wire({"name": "UnknownError", "data": {"message": trace}})
    message, detail = describe_failure(error)
    assert (message, detail) == ("x is undefined", trace)


def test_a_missing_model_named_in_the_errors_data() -> None:
    message, _ = describe_failure(
        RunError.from_wire(
            {"name": "ProviderModelNotFoundError", "data": {"providerID": "acme", "modelID": "m-1"}}
        )
    )
    assert message.startswith("the server has no model acme/m-1; opencode.model.select")


def test_a_new_run_after_a_failure_can_fail_and_be_told_again() -> None:
    tracker = running(RunTracker(ROOT))
    tracker.on_event(model_error("Model not found: a/b."), 1.0)
    tracker.on_event(idle(), 1.1)
    tracker.on_event(busy(), 2.0)
    assert isinstance(tracker.on_event(model_error("Model not found: a/b."), 3.0)[0], Failed)


# --- reject ----------------------------------------------------------------------------------


def test_a_rejected_step_is_what_the_run_ends_with() -> None:
    tracker = running(RunTracker(ROOT))
    tracker.on_event(tool("bash", "running", {"command": "touch x.txt"}), 1.0)
    replied = ev("permission.replied", sessionID=S, requestID="per_1", reply="reject")
    assert tracker.on_event(replied, 2.0) == []
    error = "The user rejected permission to use this specific tool call."
    failed = tool("bash", "error", {"command": "touch x.txt"}, error=error)
    assert tracker.on_event(failed, 3.0) == [
        RunProgress("report", S, "bash: touch x.txt: rejected")
    ]
    assert tracker.on_event(idle(), 4.0) == [
        RunProgress("end", S, "Done: stopped: you rejected bash: touch x.txt"),
        Status("idle", S, "stopped: you rejected bash: touch x.txt"),
    ]


def test_a_tool_that_fails_on_its_own_is_not_called_rejected() -> None:
    tracker = running(RunTracker(ROOT))
    allowed = ev("permission.replied", sessionID=S, requestID="per_1", reply="once")
    tracker.on_event(allowed, 0.5)
    tracker.on_event(tool("bash", "running", {"command": "false"}), 1.0)
    assert tracker.on_event(tool("bash", "error", {"command": "false"}), 2.0) == [
        RunProgress("report", S, "bash: false failed")
    ]
    assert tracker.on_event(idle(), 3.0)[-1] == Status("idle", S, "1 step")


# --- robustness ------------------------------------------------------------------------------


def test_unknown_and_malformed_events_do_nothing() -> None:
    tracker = running(RunTracker(ROOT))
    malformed: list[dict[str, Any]] = [
        {},
        {"type": "server.heartbeat", "properties": {}},
        {"type": "something.new", "properties": {"sessionID": S}},
        {"type": "session.status"},
        {"type": "session.status", "properties": None},
        {"type": "session.status", "properties": {"sessionID": S, "status": "busy"}},
        {"type": "session.status", "properties": {"sessionID": 3, "status": {"type": "idle"}}},
        {"type": "message.part.updated", "properties": {"part": "text"}},
        {"type": "message.part.updated", "properties": {"part": {"sessionID": S, "type": 5}}},
        {"type": "message.part.delta", "properties": {"sessionID": S, "delta": 5}},
        {"type": "message.updated", "properties": {"info": {"id": 1}}},
        {"type": "session.idle", "properties": {"sessionID": None}},
    ]
    for event in malformed:
        assert tracker.on_event(parse_event(event), 1.0) == [], event
    assert S in tracker.runs


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
SESSION = st.sampled_from([S, "ses_2"]) | JSON
KIND = st.sampled_from(
    [
        "session.status",
        "session.idle",
        "session.error",
        "message.updated",
        "message.part.updated",
        "message.part.delta",
        "server.connected",
    ]
) | st.text(max_size=12)
STATE = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["running", "error", "pending"]) | JSON,
        "input": st.dictionaries(
            st.sampled_from(["filePath", "path", "pattern", "url", "command"]), JSON
        )
        | JSON,
        "title": JSON,
    },
)
PART = st.fixed_dictionaries(
    {},
    optional={
        "sessionID": SESSION,
        "messageID": JSON,
        "id": JSON,
        "type": st.sampled_from(["text", "tool"]) | JSON,
        "text": JSON,
        "tool": JSON,
        "state": STATE | JSON,
    },
)
PROPERTIES = (
    st.fixed_dictionaries(
        {},
        optional={
            "sessionID": SESSION,
            "status": st.fixed_dictionaries(
                {},
                optional={
                    "type": st.sampled_from(["busy", "idle", "retry"]) | JSON,
                    "attempt": JSON,
                    "message": JSON,
                },
            )
            | JSON,
            "error": st.fixed_dictionaries({}, optional={"name": JSON, "data": JSON}) | JSON,
            "info": st.fixed_dictionaries({}, optional={"id": JSON, "role": JSON}) | JSON,
            "part": PART | JSON,
            "messageID": JSON,
            "partID": JSON,
            "field": JSON,
            "delta": JSON,
        },
    )
    | JSON
)
EVENT = st.fixed_dictionaries({}, optional={"type": KIND, "properties": PROPERTIES, "id": JSON})


@settings(
    max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(events=st.lists(EVENT, max_size=8))
def test_arbitrary_events_never_raise(events: list[dict[str, Any]]) -> None:
    tracker = RunTracker(ROOT)
    tracker.expect_answer(S)
    tracker.on_event(busy(S), 0.0)
    tracker.on_event(busy("ses_2"), 0.0)
    for index, event in enumerate(events):
        actions = tracker.on_event(parse_event(event), 0.01 * index)
        assert isinstance(actions, list)
    tracker.flush(S, 10.0)
    tracker.disconnected("gone")


# --- throttling ------------------------------------------------------------------------------


def test_ten_thousand_deltas_in_one_second_give_about_ten_reports() -> None:
    tracker = running(RunTracker(ROOT))
    reports: list[RunProgress] = []
    flush_at: float | None = None

    def carry_out(actions: list[Action], now: float) -> None:
        nonlocal flush_at
        for action in actions:
            if isinstance(action, RunProgress) and action.stage == "report":
                reports.append(action)
            elif isinstance(action, FlushLater):
                assert flush_at is None, "only one flush scheduled at a time"
                assert 0 < action.delay <= MIN_REPORT_INTERVAL + 1e-9
                flush_at = now + action.delay

    count = 10_000
    for index in range(count):
        now = index / count
        if flush_at is not None and flush_at <= now:  # the server's timer fires
            at, flush_at = flush_at, None
            carry_out(tracker.flush(S, at), at)
        carry_out(tracker.on_event(delta(f"w{index} "), now), now)
    if flush_at is not None:
        at, flush_at = flush_at, None
        carry_out(tracker.flush(S, at), at)

    assert 9 <= len(reports) <= 11
    # The held text was not lost: the last report shows the last delta.
    assert reports[-1].message.endswith(f"w{count - 1}")


def test_flush_delivers_the_latest_held_text() -> None:
    tracker = running(RunTracker(ROOT))
    assert tracker.on_event(delta("a"), 1.0) == [RunProgress("report", S, "a")]
    held = tracker.on_event(delta("b"), 1.01)
    delay = MIN_REPORT_INTERVAL - 0.01
    assert held == [FlushLater(S, held[0].delay)] and abs(held[0].delay - delay) < 1e-9  # type: ignore[union-attr]
    assert tracker.on_event(delta("c"), 1.02) == []  # already scheduled
    assert tracker.flush(S, 1.01 + delay) == [RunProgress("report", S, "abc")]
    assert tracker.flush(S, 1.01 + 2 * delay) == []  # nothing held any more


def test_flush_after_the_run_ended_does_nothing() -> None:
    tracker = running(RunTracker(ROOT))
    tracker.on_event(delta("a"), 1.0)
    tracker.on_event(delta("b"), 1.01)
    tracker.on_event(idle(), 1.02)
    assert tracker.flush(S, 1.1) == []


def test_sessions_are_throttled_separately() -> None:
    tracker = running(RunTracker(ROOT))
    running(tracker, "ses_2")
    assert tracker.on_event(delta("a"), 1.0) == [RunProgress("report", S, "a")]
    assert tracker.on_event(delta("b", session="ses_2"), 1.0) == [
        RunProgress("report", "ses_2", "b")
    ]


# --- disconnection and memory ----------------------------------------------------------------


def test_disconnected_ends_every_run() -> None:
    tracker = running(RunTracker(ROOT))
    running(tracker, "ses_2")
    actions = tracker.disconnected("OpenCode stopped")
    assert actions == [
        RunProgress("end", S, "Disconnected from OpenCode"),
        RunProgress("end", "ses_2", "Disconnected from OpenCode"),
        Status("disconnected", None, "OpenCode stopped"),
    ]
    assert tracker.runs == {}
    assert tracker.on_event(idle(), 2.0) == []  # nothing left to end
    assert tracker.disconnected("again") == [Status("disconnected", None, "again")]


def test_memory_stays_bounded_over_many_runs() -> None:
    tracker = RunTracker(ROOT)
    now = 0.0
    for number in range(1_000):
        session = f"ses_{number}"
        tracker.expect_answer(session)
        tracker.on_event(busy(session), now)
        for index, role in enumerate(["user", "assistant", "assistant"]):
            tracker.on_event(message(f"msg_{number}_{index}", role, session), now)
        tracker.on_event(delta("x" * 100, msg=f"msg_{number}_1", session=session), now)
        tracker.on_event(idle(session), now)
        now += 1.0
    assert tracker.runs == {}
    assert tracker.asked == set()
    assert len(tracker._roles) == MAX_REMEMBERED_MESSAGES
    assert "msg_999_2" in tracker._roles and "msg_0_0" not in tracker._roles  # oldest go first
