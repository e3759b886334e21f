"""The conversation document's text: what a session renders as, what each event appends, where
the prompt area is, and what a prompt written there asks for (bridge/core/conversation_text.py)."""

from __future__ import annotations

from bridge.core import conversation_text as ct
from bridge.core.conversation_text import (
    MARKER,
    Reference,
    document,
    insertion,
    prompt_of,
    prompt_range,
    references,
    render,
    request_at,
    slash_command,
    turn_at,
)
from bridge.opencode.events import (
    MessageUpdated,
    PartDelta,
    PartUpdated,
    PermissionAsked,
    PermissionReplied,
    QuestionAnswered,
    QuestionAsked,
)
from bridge.opencode.models import (
    FileDiff,
    Message,
    MessageInfo,
    Part,
    PermissionMetadata,
    Question,
    QuestionOption,
    Request,
    RunError,
    SessionInfo,
    ToolState,
    Usage,
)

SES = "ses_1"
SESSION = SessionInfo(SES, title="Fix the bug", directory="/w")


def user(message_id: str, created: int = 1_700_000_000_000) -> MessageInfo:
    return MessageInfo(message_id, role="user", session_id=SES, created=created)


def answer(message_id: str, usage: Usage | None = None, **more: object) -> MessageInfo:
    return MessageInfo(
        message_id,
        role="assistant",
        session_id=SES,
        agent="build",
        model="mock/model",
        usage=usage,
        **more,  # type: ignore[arg-type]
    )


def text(part_id: str, message_id: str, value: str = "") -> Part:
    return Part("text", id=part_id, session_id=SES, message_id=message_id, text=value)


def bash(part_id: str, message_id: str, command: str, status: str = "completed") -> Part:
    state = ToolState(status, {"command": command}, output="one\ntwo\n")
    return Part("tool", id=part_id, session_id=SES, message_id=message_id, tool="bash", state=state)


def edit_step(part_id: str, message_id: str) -> Part:
    state = ToolState("completed", {"filePath": "/w/src/a.py"})
    return Part("tool", id=part_id, session_id=SES, message_id=message_id, tool="edit", state=state)


def delta(part_id: str, message_id: str, value: str) -> PartDelta:
    return PartDelta(SES, message_id, part_id, "text", value)


USAGE = Usage(cost=0.0123, input=1000, output=200, reasoning=34, cached=0, total=1234)


def one_turn() -> list[Message]:
    return [
        Message(user("msg_1"), (text("p1", "msg_1", "Why does foo fail?"),)),
        Message(
            answer("msg_2", USAGE),
            (
                text("p2", "msg_2", "Let me look."),
                bash("p3", "msg_2", "pytest -q"),
                text("p4", "msg_2", "It divides by zero."),
            ),
        ),
    ]


def follow(*events: object) -> str:
    """What a follower of a session that has one finished turn appends for ``events``."""
    _, follower = render(SESSION, one_turn())
    for each in events:
        if isinstance(each, PartDelta):
            follower.delta(each)
        else:
            follower.on_event(each)  # type: ignore[arg-type]
    return follower.take()


# --- rendering a session ----------------------------------------------------------------------


def test_a_session_renders_in_the_order_things_happened() -> None:
    body, _ = render(SESSION, one_turn())
    assert body == (
        "# Fix the bug\n"
        "\n"
        "- Session: `ses_1`\n"
        "- Folder: `/w`\n"
        "\n"
        "## 1. You · 2023-11-14 22:13:20 UTC\n"
        "\n"
        "Why does foo fail?\n"
        "\n"
        "## 1. OpenCode · build · mock/model\n"
        "\n"
        "Let me look.\n"
        "\n"
        "- bash `pytest -q` — completed (2 lines of output)\n"
        "\n"
        "It divides by zero.\n"
        "\n"
        "*$0.0123 · 1,234 tokens (1,000 in, 200 out, 34 reasoning, 0 cached)*"
    )


def test_an_empty_session_says_so_and_the_document_ends_with_the_prompt_area() -> None:
    body, _ = render(SessionInfo(SES), [])
    assert body.endswith("*No messages yet.*")
    whole = document(body, "draft")
    assert whole.endswith(f"\n\n{MARKER}\ndraft")
    assert prompt_of(whole) == "draft"


def test_reasoning_synthetic_text_and_unfinished_tools_are_left_out() -> None:
    messages = [
        Message(
            user("msg_1"),
            (
                text("p1", "msg_1", "hi"),
                Part("text", id="p0", message_id="msg_1", text="file body", synthetic=True),
            ),
        ),
        Message(
            answer("msg_2"),
            (
                Part("reasoning", id="r", message_id="msg_2", text="thinking hard"),
                bash("p3", "msg_2", "sleep 100", status="running"),
            ),
        ),
    ]
    body, _ = render(SESSION, messages, finished=False)
    assert "file body" not in body and "thinking hard" not in body and "sleep" not in body


def test_the_turn_ends_with_the_files_it_changed_and_its_errors() -> None:
    diff = FileDiff("/w/src/a.py", additions=2, deletions=1)
    failed = answer("msg_2", error=RunError("APIError", "rate limited"))
    messages = [
        Message(MessageInfo("msg_1", role="user", session_id=SES, diffs=(diff,)), ()),
        Message(failed, (edit_step("p3", "msg_2"),)),
    ]
    body, _ = render(SESSION, messages)
    assert body.endswith(
        "- edit `src/a.py` — completed\n\n"
        "**Error:** rate limited\n\n"
        "Files changed: `src/a.py` (+2 −1)"
    )


def test_a_stopped_run_says_so() -> None:
    stopped = answer("msg_2", error=RunError("MessageAbortedError", "aborted"))
    messages = [
        Message(user("msg_1"), (text("p1", "msg_1", "go"),)),
        Message(stopped, (text("p2", "msg_2", "Start"),)),
    ]
    assert render(SESSION, messages)[0].endswith("Start\n\n*(stopped)*")


def test_several_answers_of_one_turn_share_its_heading_and_its_cost() -> None:
    messages = [
        Message(user("msg_1"), (text("p1", "msg_1", "go"),)),
        Message(answer("msg_2", USAGE), (bash("p2", "msg_2", "ls"),)),
        Message(answer("msg_3", USAGE), (text("p3", "msg_3", "Done."),)),
        Message(user("msg_4"), (text("p4", "msg_4", "again"),)),
    ]
    body, follower = render(SESSION, messages, finished=False)
    assert body.count("## 1. OpenCode") == 1
    assert "*$0.0246 · 2,468 tokens" in body
    assert body.endswith("## 2. You · 2023-11-14 22:13:20 UTC\n\nagain")
    assert follower.turn_message(1) == "msg_1" and follower.turn_message(2) == "msg_4"


# --- following a session ----------------------------------------------------------------------


def test_streamed_text_continues_its_paragraph_and_a_tool_line_starts_a_block() -> None:
    appended = follow(
        MessageUpdated(SES, user("msg_5")),
        PartUpdated(SES, text("q", "msg_5", "And now?")),
        MessageUpdated(SES, answer("msg_6")),
        PartUpdated(SES, text("t", "msg_6")),
        delta("t", "msg_6", "Hel"),
        delta("t", "msg_6", "lo"),
        PartUpdated(SES, bash("b", "msg_6", "ls")),
        PartUpdated(SES, bash("c", "msg_6", "pwd")),
    )
    assert appended == (
        "\n\n## 2. You · 2023-11-14 22:13:20 UTC"
        "\n\nAnd now?"
        "\n\n## 2. OpenCode · build · mock/model"
        "\n\nHello"
        "\n\n- bash `ls` — completed (2 lines of output)"
        "\n- bash `pwd` — completed (2 lines of output)"
    )


def test_a_live_turn_reads_as_the_same_turn_rendered_afresh() -> None:
    """A document that grew live and one rendered from the messages are the same text."""
    body, follower = render(SESSION, [])
    events: list[object] = [
        MessageUpdated(SES, user("msg_1")),
        PartUpdated(SES, text("p1", "msg_1", "Why does foo fail?")),
        MessageUpdated(SES, answer("msg_2")),
        PartUpdated(SES, text("p2", "msg_2")),
        delta("p2", "msg_2", "Let me "),
        delta("p2", "msg_2", "look."),
        PartUpdated(SES, bash("p3", "msg_2", "pytest -q")),
        PartUpdated(SES, text("p4", "msg_2")),
        delta("p4", "msg_2", "It divides by zero."),
        PartUpdated(SES, text("p4", "msg_2", "It divides by zero.")),  # its final update
        MessageUpdated(SES, answer("msg_2", USAGE)),
    ]
    for each in events:
        if isinstance(each, PartDelta):
            follower.delta(each)
        else:
            follower.on_event(each)  # type: ignore[arg-type]
    follower.run_ended([])
    live = body.removesuffix("\n\n*No messages yet.*") + follower.take()
    assert live == render(SESSION, one_turn())[0]


def test_parts_fed_again_are_not_written_twice() -> None:
    _, follower = render(SESSION, one_turn())
    follower.catch_up(one_turn(), finished=True)
    assert follower.take() == ""


def test_a_part_read_mid_stream_is_completed_from_its_final_update() -> None:
    messages = [
        Message(user("msg_1"), (text("p1", "msg_1", "go"),)),
        Message(answer("msg_2"), (text("p2", "msg_2", "Half of"),)),
    ]
    body, follower = render(SESSION, messages, finished=False)
    assert body.endswith("Half of")
    follower.delta(delta("p2", "msg_2", " it"))  # was it in what was read? cannot tell
    assert follower.take() == ""
    follower.on_event(PartUpdated(SES, text("p2", "msg_2", "Half of it, and more.")))
    assert follower.take() == " it, and more."


def test_events_of_other_sessions_are_not_followed() -> None:
    other = MessageInfo("msg_9", role="user", session_id="ses_2")
    assert follow(MessageUpdated("ses_2", other)) == ""


def test_the_end_of_a_run_writes_the_files_fetched_and_the_cost_once() -> None:
    _, follower = render(SESSION, [])
    follower.on_event(MessageUpdated(SES, user("msg_1")))
    follower.on_event(PartUpdated(SES, text("p1", "msg_1", "edit it")))
    follower.on_event(MessageUpdated(SES, answer("msg_2", USAGE)))
    follower.on_event(PartUpdated(SES, edit_step("p2", "msg_2")))
    follower.take()
    follower.run_ended([FileDiff("/w/src/a.py", additions=1, deletions=1)])
    assert follower.take() == (
        "\n\nFiles changed: `src/a.py` (+1 −1)"
        "\n\n*$0.0123 · 1,234 tokens (1,000 in, 200 out, 34 reasoning, 0 cached)*"
    )
    follower.run_ended([])
    assert follower.take() == ""


# --- permissions and questions ----------------------------------------------------------------


def permission(request_id: str = "per_1") -> Request:
    return Request(
        request_id,
        SES,
        permission="bash",
        patterns=("touch x",),
        always=("touch *",),
        metadata=PermissionMetadata(command="touch x"),
    )


def test_a_permission_appears_where_it_happened_with_its_actions_named() -> None:
    appended = follow(PermissionAsked(permission()), PermissionReplied("per_1", SES, "once"))
    lines = appended.strip("\n").split("\n")
    assert lines[0].startswith("> **Permission** `per_1`: OpenCode wants to run: touch x")
    assert lines[1] == "> Code actions on this line: Allow once · Allow always · Reject"
    assert lines[-1] == "> `per_1`: allowed once"
    assert request_at(lines, 0) == "per_1" and request_at(lines, 1) == "per_1"
    assert request_at(lines, 3) is None


def test_a_question_lists_its_options_and_a_permission_of_another_session_is_not_shown() -> None:
    options = (QuestionOption("Yes"), QuestionOption("No"))
    question = Request("que_1", SES, questions=(Question("Go on?", "Continue", options),))
    stranger = Request("per_2", "ses_2", permission="bash", patterns=("x",))
    appended = follow(
        QuestionAsked(question), PermissionAsked(stranger), QuestionAnswered("que_1", rejected=True)
    )
    assert "> **Question** `que_1`: " in appended
    assert "> Options (code actions on this line): Yes · No" in appended
    assert appended.endswith("> `que_1`: dismissed")
    assert "per_2" not in appended


# --- the document's parts ---------------------------------------------------------------------


def test_insertions_go_above_the_blank_line_before_the_marker() -> None:
    whole = document("# T\n\nbody", "my prompt\n")
    at, insert = insertion(whole, "\n\nmore")
    assert whole[:at] + insert + whole[at:] == document("# T\n\nbody\n\nmore", "my prompt\n")
    span = prompt_range(whole)
    assert span is not None and whole[span[0] : span[1]] == "my prompt\n"


def test_without_a_marker_line_the_insertion_brings_one_back() -> None:
    at, insert = insertion("# T\n\nbody", "\n\nmore")
    assert at == len("# T\n\nbody")
    assert insert == f"\n\nmore\n\n{MARKER}\n"
    assert prompt_of("# T\n\nbody") is None


def test_only_a_whole_line_is_the_marker_and_the_last_one_counts() -> None:
    quoted = f"body mentions {MARKER} inline"
    whole = f"{quoted}\n\n{MARKER}\nfirst\n{MARKER}\nsecond"
    assert prompt_of(whole) == "second"
    assert ct.marker_line(whole) == 4
    assert prompt_of(quoted) is None
    assert prompt_of(f"x\r\n\r\n{MARKER}\r\nwindows") == "windows"


def test_the_turn_of_an_edit_or_a_files_line_is_the_heading_above() -> None:
    lines = [
        "## 1. You",
        "",
        "## 1. OpenCode · build",
        "- edit `src/a.py` — completed",
        "- bash `ls` — completed",
        "Files changed: `src/a.py` (+1 −1)",
    ]
    assert turn_at(lines, 3) == 1 and turn_at(lines, 5) == 1
    assert turn_at(lines, 4) is None and turn_at(lines, 0) is None and turn_at(lines, 9) is None


# --- what the user wrote ----------------------------------------------------------------------


def test_references_with_and_without_lines() -> None:
    prompt = "Compare @src/a.py#L10-20 with @src/b.py#L7, and read @README.md. Mail me@x.org"
    assert references(prompt) == [
        Reference("src/a.py", 10, 20),
        Reference("src/b.py", 7, 7),
        Reference("README.md", None, None),
    ]
    assert references("@a.py#20-10") == [Reference("a.py", 10, 20)]


def test_slash_commands() -> None:
    assert slash_command("/compact") == ("compact", "")
    assert slash_command("  /review the last change\nplease") == (
        "review",
        "the last change\nplease",
    )
    assert slash_command("Why is /usr/bin slow?") is None
    assert slash_command("/ alone") is None
