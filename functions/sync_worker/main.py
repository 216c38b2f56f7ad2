"""`sync_worker`: carries out one sync request from our own push subscription (retries, dead letters)."""

from typing import Any

import functions_framework

from shared.composition import get_container, setup_instance
from shared.entrypoints import event_function
from shared.sync.requests import parse_sync_request


@functions_framework.cloud_event
@event_function("sync_worker", setup=setup_instance)
def sync_worker(cloud_event: Any) -> None:
    get_container().sync_runner.run(parse_sync_request(cloud_event.data))
