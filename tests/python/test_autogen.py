"""AutoGen 0.2.40: a group chat with automatic speaker selection, whose
members are `GPTAssistantAgent`s, against the embedded server, unchanged.

Run by `tests/autogen.rs`, which starts the server and sets OPENAI_BASE_URL
and OPENAI_API_KEY. Two assistants (made by AutoGen through the Assistants
API, each with its own instructions) and a user proxy talk in a `GroupChat`
whose manager picks every next speaker with a Chat Completion
(`speaker_selection_method="auto"`). The assistants answer through threads
and runs.

How the scripted model makes the selection deterministic: AutoGen asks who
speaks next with the group's messages (role `user`, `name` the speaker)
between two system messages, and picks the agent that the answer mentions,
counting only the agents eligible to speak next. The scripted model answers
the last user message, the group's last message, with `You said: TEXT`, so
the name in that message picks the next speaker. An assistant's reply
repeats the text that picked it, so `allow_repeat_speaker=False` is what
lets the conversation move on: the last speaker is not eligible, and the
other name in the text picks. The plan:

    Host:    "Planner, ... then hand back to Host."    -> picks Planner
    Planner: "You said: Planner, ... back to Host."    -> picks Host
    Host:    "Thanks. Critic, please review ..."       -> picks Critic
    Critic:  "You said: Thanks. Critic, please ..."       (last round)

Every HTTP request is recorded (the SDK's httpx client is wrapped, nothing
is changed), so that the script can check that each pick came from a Chat
Completion on the first try and that the runs answered.
"""

import json
import os
import sys
import traceback

import httpx

# Record every request AutoGen's OpenAI clients send, and the answers of the
# Chat Completions. The requests and responses pass through unchanged.
requests = []
_send = httpx.Client.send


def _recording_send(self, request, **kwargs):
    response = _send(self, request, **kwargs)
    body = None
    if request.content:
        try:
            body = json.loads(request.content)
        except ValueError:
            body = request.content
    entry = {
        "method": request.method,
        "path": request.url.path,
        "query": dict(request.url.params),
        "body": body,
        "status": response.status_code,
    }
    if request.url.path.endswith("/chat/completions"):
        response.read()
        entry["response"] = response.json()
    requests.append(entry)
    return response


httpx.Client.send = _recording_send

from autogen import GroupChat, GroupChatManager, UserProxyAgent  # noqa: E402
from autogen.agentchat.contrib.gpt_assistant_agent import GPTAssistantAgent  # noqa: E402

TASK = "Planner, please outline a plan for the team picnic, then hand back to Host."
NUDGE = "Thanks. Critic, please review the plan above."
PLANNER_INSTRUCTIONS = "You plan team outings in three short steps."
CRITIC_INSTRUCTIONS = "You review plans and name one risk."


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def calls(method, suffix):
    return [r for r in requests if r["method"] == method and r["path"].endswith(suffix)]


def main():
    config_list = [
        {
            "model": "scripted",
            "base_url": os.environ["OPENAI_BASE_URL"],
            "api_key": os.environ["OPENAI_API_KEY"],
        }
    ]
    # No disk cache (AutoGen's default cache_seed 41 would answer a second
    # run from .cache/ without asking the server).
    llm_config = {"config_list": config_list, "cache_seed": None}

    assistants = []
    try:
        for name, instructions in [
            ("Planner", PLANNER_INSTRUCTIONS),
            ("Critic", CRITIC_INSTRUCTIONS),
        ]:
            assistants.append(
                GPTAssistantAgent(name=name, instructions=instructions, llm_config=llm_config)
            )
        run_chat(*assistants, llm_config)
    finally:
        # Clean up what AutoGen made: the threads, then the assistants.
        for agent in assistants:
            for thread in agent.oai_threads.values():
                agent.openai_client.beta.threads.delete(thread.id)
            agent.delete_assistant()
    ids = [agent.assistant_id for agent in assistants]
    left = {a.id for a in assistants[0].openai_client.beta.assistants.list(limit=100).data}
    check(not left & set(ids), f"the assistants were not deleted: {left}")
    for id in ids:
        (deleted,) = calls("DELETE", "/assistants/" + id)
        check(deleted["status"] == 200, f"deleting an assistant: {deleted}")


def run_chat(planner, critic, llm_config):
    # AutoGen looked each assistant up by name and, finding none, made it.
    check(len(calls("GET", "/assistants")) == 2, "AutoGen lists the assistants once per agent")
    created = calls("POST", "/assistants")
    check(
        [(c["body"]["name"], c["body"]["instructions"], c["body"]["model"]) for c in created]
        == [
            ("Planner", PLANNER_INSTRUCTIONS, "scripted"),
            ("Critic", CRITIC_INSTRUCTIONS, "scripted"),
        ],
        f"the assistants AutoGen created: {created}",
    )
    check(planner.assistant_id.startswith("asst_"), planner.assistant_id)
    check(planner.assistant_id != critic.assistant_id, "two assistants")

    host = UserProxyAgent(
        name="Host",
        description="The person who asked for the plan.",
        human_input_mode="NEVER",
        code_execution_config=False,
        default_auto_reply=NUDGE,
    )
    groupchat = GroupChat(
        agents=[host, planner, critic],
        messages=[],
        max_round=4,
        speaker_selection_method="auto",
        allow_repeat_speaker=False,
    )
    manager = GroupChatManager(groupchat=groupchat, llm_config=llm_config)
    host.initiate_chat(manager, message=TASK)

    said = [(m["name"], m["content"].strip()) for m in groupchat.messages]
    expected = [
        ("Host", TASK),
        ("Planner", "You said: " + TASK),
        ("Host", NUDGE),
        ("Critic", "You said: " + NUDGE),
    ]
    check(said == expected, f"the group chat went:\n{json.dumps(said, indent=2)}")

    # Every next speaker was picked by one Chat Completion, on its first try:
    # three picks (the fourth round is the last and picks no one).
    completions = calls("POST", "/chat/completions")
    check(
        len(completions) == 3,
        f"{len(completions)} chat completions, not 3 (a retry or a fallback?)",
    )
    eligible = [["Planner", "Critic"], ["Host", "Critic"], ["Planner", "Critic"]]
    for i, completion in enumerate(completions):
        body = completion["body"]
        check(completion["status"] == 200, f"chat completion {i}: {completion}")
        check(body["model"] == "scripted", f"chat completion {i}: {body}")
        check(body.get("stream") is False, f"chat completion {i} is not streamed: {body}")
        messages = body["messages"]
        first, group, last = messages[0], messages[1:-1], messages[-1]
        check(
            first["role"] == "system" and "You are in a role play game" in first["content"],
            f"chat completion {i} starts with the selection prompt: {first}",
        )
        check(
            str(eligible[i]) in first["content"],
            f"chat completion {i} offers {eligible[i]}: {first['content']}",
        )
        check(
            last == {
                "role": "system",
                "name": "checking_agent",
                "content": "Read the above conversation. Then select the next role from "
                f"{eligible[i]} to play. Only return the role.",
            },
            f"chat completion {i} ends with the question: {last}",
        )
        check(
            [(m["role"], m["name"], m["content"].strip()) for m in group]
            == [("user", name, text) for name, text in said[: i + 1]],
            f"chat completion {i} carries the group's messages: {group}",
        )
        answer = completion["response"]["choices"][0]["message"]["content"]
        check(
            answer.strip() == "You said: " + said[i][1],
            f"chat completion {i} answered {answer!r}",
        )
        picked = said[i + 1][0]
        check(
            picked in answer and [n for n in eligible[i] if n in answer] == [picked],
            f"chat completion {i} answered {answer!r}, yet {picked} spoke",
        )

    # Each assistant answered through its own thread, one run each, with its
    # instructions; the thread got the group's messages up to its turn.
    runs = calls("POST", "/runs")
    check(
        [(r["body"]["assistant_id"], r["body"]["instructions"]) for r in runs]
        == [
            (planner.assistant_id, PLANNER_INSTRUCTIONS),
            (critic.assistant_id, CRITIC_INSTRUCTIONS),
        ],
        f"the runs: {runs}",
    )
    for agent, texts in [(planner, [TASK]), (critic, [TASK, "You said: " + TASK, NUDGE])]:
        (thread,) = agent.oai_threads.values()
        posted = [
            (r["body"]["role"], r["body"]["content"].strip())
            for r in calls("POST", f"/threads/{thread.id}/messages")
        ]
        check(
            posted == [("user", text) for text in texts],
            f"{agent.name}'s thread got {posted}",
        )
        listed = agent.openai_client.beta.threads.messages.list(thread.id, order="asc")
        roles = [m.role for m in listed.data]
        check(roles == ["user"] * len(texts) + ["assistant"], f"{agent.name}'s thread: {roles}")
    polled = [r for r in requests if r["method"] == "GET" and "/runs/" in r["path"]]
    check(len(polled) >= 2, f"AutoGen polls each run: {polled}")
    failed = [(r["method"], r["path"], r["status"]) for r in requests if r["status"] != 200]
    check(not failed, f"requests that failed: {failed}")


if __name__ == "__main__":
    try:
        main()
    except Exception:
        traceback.print_exc()
        print("The requests AutoGen sent:", file=sys.stderr)
        for r in requests:
            query = r["query"] or ""
            print(f"  {r['method']} {r['path']} {query} -> {r['status']}", file=sys.stderr)
        print("AutoGen test failed", file=sys.stderr)
        sys.exit(1)
    print("AutoGen test passed")
