"""How well the bundled local model (SmolLM2-135M) picks a tool and fills its arguments.

Every task offers the same seven tools and expects exactly one call. A task scores a tool hit
when the model calls the expected tool, and an argument hit when, in addition, every argument
matches after normalisation (case, surrounding spaces and punctuation, numbers compared as
numbers). No task is special-cased anywhere in the library: this file only asks and scores.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from mainspring.messages import Message
from mainspring.models import ModelSettings, ToolDefinition
from mainspring.models.local import LocalModel
from mainspring.tools import Tool, tool


@tool
def get_weather(city: str) -> str:
    """Get the current weather forecast for a city.

    Args:
        city: name of the city, e.g. Paris.
    """
    return ""


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression with numbers and + - * / operators.

    Args:
        expression: the arithmetic expression, e.g. 3 * (4 + 5).
    """
    return ""


@tool
def convert_units(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a measurement from one unit to another (length, weight, temperature).

    Args:
        value: the number to convert.
        from_unit: the unit of the value, e.g. km.
        to_unit: the unit wanted, e.g. miles.
    """
    return ""


@tool
def translate(text: str, target_language: str) -> str:
    """Translate text into another language.

    Args:
        text: the text to translate.
        target_language: the language to translate into, e.g. French.
    """
    return ""


@tool
def get_stock_price(ticker: str) -> str:
    """Look up the latest share price of a company on the stock market.

    Args:
        ticker: the stock ticker symbol, e.g. AAPL.
    """
    return ""


@tool
def set_timer(minutes: int) -> str:
    """Start a countdown timer.

    Args:
        minutes: how many minutes the timer runs.
    """
    return ""


@tool
def define_word(word: str) -> str:
    """Look up the dictionary definition of an English word.

    Args:
        word: the word to define.
    """
    return ""


TOOLS: list[Tool] = [
    get_weather,
    calculator,
    convert_units,
    translate,
    get_stock_price,
    set_timer,
    define_word,
]


@dataclass(frozen=True)
class Task:
    prompt: str
    tool: str
    arguments: dict[str, Any]


TASKS = [
    Task("What's the weather like in Paris today?", "get_weather", {"city": "Paris"}),
    Task("Will it rain in Tokyo?", "get_weather", {"city": "Tokyo"}),
    Task("Weather forecast for Berlin please.", "get_weather", {"city": "Berlin"}),
    Task("What is 17 * 23?", "calculator", {"expression": "17 * 23"}),
    Task("Calculate 1234 + 5678.", "calculator", {"expression": "1234 + 5678"}),
    Task("What is 144 / 12?", "calculator", {"expression": "144 / 12"}),
    Task(
        "Convert 10 km to miles.",
        "convert_units",
        {"value": 10, "from_unit": "km", "to_unit": "miles"},
    ),
    Task(
        "How many pounds is 5 kg?",
        "convert_units",
        {"value": 5, "from_unit": "kg", "to_unit": "pounds"},
    ),
    Task(
        "Convert 30 celsius to fahrenheit.",
        "convert_units",
        {"value": 30, "from_unit": "celsius", "to_unit": "fahrenheit"},
    ),
    Task(
        "Translate 'good morning' into French.",
        "translate",
        {"text": "good morning", "target_language": "French"},
    ),
    Task(
        "How do you say 'thank you' in Spanish?",
        "translate",
        {"text": "thank you", "target_language": "Spanish"},
    ),
    Task(
        "Translate 'where is the station' to German.",
        "translate",
        {"text": "where is the station", "target_language": "German"},
    ),
    Task("What is the stock price of AAPL?", "get_stock_price", {"ticker": "AAPL"}),
    Task("How much is MSFT stock trading at?", "get_stock_price", {"ticker": "MSFT"}),
    Task("Get me the share price for TSLA.", "get_stock_price", {"ticker": "TSLA"}),
    Task("Set a timer for 10 minutes.", "set_timer", {"minutes": 10}),
    Task("Start a 25 minute timer.", "set_timer", {"minutes": 25}),
    Task("Remind me in 5 minutes with a timer.", "set_timer", {"minutes": 5}),
    Task("Define the word 'serendipity'.", "define_word", {"word": "serendipity"}),
    Task("What does 'ephemeral' mean?", "define_word", {"word": "ephemeral"}),
    Task("Give me the definition of ubiquitous.", "define_word", {"word": "ubiquitous"}),
    Task("Is it sunny in Madrid right now?", "get_weather", {"city": "Madrid"}),
    Task("What is 99 - 45?", "calculator", {"expression": "99 - 45"}),
    Task(
        "Convert 100 meters to feet.",
        "convert_units",
        {"value": 100, "from_unit": "meters", "to_unit": "feet"},
    ),
]


def _norm(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().strip("'\".?!").casefold()
    try:
        return float(text)
    except ValueError:
        return " ".join(text.replace(" ", "").split()) if _is_expression(text) else text


def _is_expression(text: str) -> bool:
    return bool(text) and set(text) <= set("0123456789+-*/(). x")


def args_match(expected: dict[str, Any], actual: Any) -> bool:
    """Every expected argument present and equal after normalisation."""
    if not isinstance(actual, dict):
        return False
    return all(_norm(actual.get(k, "")) == _norm(v) for k, v in expected.items())


async def evaluate(model: LocalModel) -> tuple[int, int, float, list[str]]:
    definitions = [ToolDefinition(t.name, t.description, t.parameters) for t in TOOLS]
    tool_hits = arg_hits = 0
    misses: list[str] = []
    start = time.perf_counter()
    for task in TASKS:
        response = await model.request(
            [Message("user", task.prompt)], definitions, ModelSettings(tool_choice="auto")
        )
        calls = response.message.tool_calls
        got = (calls[0].name, calls[0].arguments) if calls else ("(answer)", {})
        if got[0] == task.tool:
            tool_hits += 1
            if args_match(task.arguments, got[1]):
                arg_hits += 1
                continue
        misses.append(f"| {task.prompt} | `{task.tool}` | `{got[0]}` `{got[1]}` |")
    return tool_hits, arg_hits, (time.perf_counter() - start) / len(TASKS), misses


def main() -> str:
    model = LocalModel("smollm2", n_threads=2)
    tool_hits, arg_hits, per_task, misses = asyncio.run(evaluate(model))
    n = len(TASKS)
    lines = [
        "## Local model: tool choice and arguments (SmolLM2-135M-Instruct, Q4_1)",
        "",
        f'{n} single-tool tasks, 7 tools offered each time, `tool_choice="auto"` (the model may '
        "also answer without a tool), temperature 0, grammar-constrained tool step. "
        "Command: `python -m bench local_model`.",
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| right tool | {tool_hits}/{n} ({tool_hits / n:.0%}) |",
        f"| right tool and arguments | {arg_hits}/{n} ({arg_hits / n:.0%}) |",
        f"| seconds per task (2 threads) | {per_task:.2f} |",
        "",
    ]
    if misses:
        lines += ["Misses:", "", "| task | expected | got |", "| --- | --- | --- |", *misses]
    return "\n".join(lines)
