"""`sync_worker`: carries out one sync request from our own push subscription (retries, dead letters)."""

from typing import Any

import functions_framework

from shared.composition import get_container, setup_instance
from shared.entrypoints import event_function
from shared.mail.worker import run_sync_request
from shared.sync.requests import parse_sync_request


@functions_framework.cloud_event
@event_function("sync_worker", setup=setup_instance)
def sync_worker(cloud_event: Any) -> None:
    run_sync_request(get_container(), parse_sync_request(cloud_event.data))
