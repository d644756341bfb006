from mainspring.agent import Agent
from mainspring.memory import AgentMemory
from mainspring.testing import ScriptedModel, text


async def test_answers_are_remembered_and_recalled_within_budget() -> None:
    memory = AgentMemory.open("sqlite://:memory:", namespace="user-1")
    await memory.add_long_term("The user is vegetarian.", importance=0.9)
    with ScriptedModel([text("Noted: Friday.")]) as first:
        await Agent(first, memory=memory).run("My flight is on Friday.")
    with ScriptedModel([text("Try the lentil curry.")]) as second:
        result = await Agent(second, memory=memory, memory_tokens=200).run("Dinner ideas?")
    system = second.requests[0].messages[0]
    assert system.role == "system" and "vegetarian" in system.content
    assert "My flight is on Friday." in system.content  # the first run was remembered
    assert result.output == "Try the lentil curry."
    memory_part = system.content.split("What you remember that may be relevant:\n", 1)[1]
    assert second.tokenizer.count(memory_part) <= 200
    await memory.close()
