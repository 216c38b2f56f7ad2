"""`purge_worker`: purges one tenant's unattached, expired copies; no Google credentials, no Google call."""

from typing import Any

import functions_framework

from shared.composition import get_container, setup_instance
from shared.entrypoints import event_function
from shared.retention.nightly import parse_purge_request


@functions_framework.cloud_event
@event_function("purge_worker", setup=setup_instance)
def purge_worker(cloud_event: Any) -> None:
    get_container().nightly_purge.run(parse_purge_request(cloud_event.data))
