"""Two replicas sharing one Redis share each tenant's runs-per-minute bucket."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from mainspring.tools.guards import RedisBackend
from tests.conftest import service_unavailable
from tests.server.harness import ThreadedServer
from tests.server.scenario import TOOLS, scenario_model

REDIS_URL = os.environ.get("MAINSPRING_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.mark.redis
async def test_replicas_share_the_run_rate_quota_through_redis(
    tmp_path: Path, effects: Path
) -> None:
    probe = RedisBackend.from_url(REDIS_URL)
    try:
        await probe._redis.ping()
    except Exception as exc:
        service_unavailable("Redis at " + REDIS_URL, exc)
    finally:
        await probe.aclose()
    tenant = f"t-{uuid.uuid4().hex[:12]}"  # the bucket's key: unique, so parallel runs do not meet
    replicas = [
        ThreadedServer(
            tmp_path / name,
            TOOLS,
            {"test:scenario": scenario_model()},
            redis_url=REDIS_URL,
            quotas={"runs_per_minute": 2},
        ).start()
        for name in ("a", "b")
    ]
    try:
        keys = [await r.key(tenant) for r in replicas]
        codes = []
        for replica, key in [
            (replicas[0], keys[0]),
            (replicas[1], keys[1]),
            (replicas[0], keys[0]),
        ]:
            async with replica.client(key) as c:
                codes.append((await c.post("/v1/runs", json={"task": "x"})).status_code)
    finally:
        for r in replicas:
            r.stop()
    assert codes == [202, 202, 429]
