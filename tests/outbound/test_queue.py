"""The queue against a scripted remote server: delivery, grouping, reuse, bounces, retries, warnings."""

from __future__ import annotations

from tests.outbound.conftest import SinkStarter, Starter

PIERRE = "pierre.durand@orange.test"


async def test_delivers_to_the_remote_server(start_instance: Starter, start_sink: SinkStarter) -> None:
    sink = await start_sink()
    orange = await start_instance("orange.test", [PIERRE], outbound={"routes": f"gmail.test=127.0.0.1:{sink.port}"})
    await orange.queue_message(PIERRE, ["arthur@gmail.test", "marie@gmail.test"])
    (mail_from, rcpts, content), *_ = await sink.wait(1)
    assert mail_from == PIERRE
    assert rcpts == ["arthur@gmail.test", "marie@gmail.test"]  # one transaction for one domain
    assert content.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
    assert await orange.queue.idle(5)
    assert orange.app.store.outbound_entries() == []
