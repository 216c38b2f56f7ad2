"""`outbound_worker`: carries out one CRM-to-Google write from our own push subscription, exactly once."""

from typing import Any

import functions_framework

from shared.composition import get_container, setup_instance
from shared.entrypoints import event_function
from shared.writes.outbox import parse_outbound_request


@functions_framework.cloud_event
@event_function("outbound_worker", setup=setup_instance)
def outbound_worker(cloud_event: Any) -> None:
    get_container().write_dispatcher.run(parse_outbound_request(cloud_event.data))
