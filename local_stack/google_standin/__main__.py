"""Run the Google stand-in on its own: ``python -m local_stack.google_standin --port 8090``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from local_stack.google_standin.limits import LimitSettings, PriceList
from local_stack.google_standin.push import PushSettings
from local_stack.google_standin.standin import GoogleStandIn, StandInSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--price-list", choices=[p.value for p in PriceList], default=PriceList.NEW.value)
    parser.add_argument("--user-units-per-minute", type=int, default=None)
    parser.add_argument("--project-units-per-minute", type=int, default=1_200_000)
    parser.add_argument("--user-concurrency", type=int, default=10)
    parser.add_argument("--latency-seconds", type=float, default=0.0)
    parser.add_argument("--history-retention", type=int, default=None)
    parser.add_argument("--pubsub-emulator-host", default=None)
    parser.add_argument("--push-endpoint", default=None)
    parser.add_argument("--account", action="append", default=[], help="an account to create (repeatable)")
    args = parser.parse_args(argv)
    settings = StandInSettings(
        limits=LimitSettings(
            price_list=PriceList(args.price_list),
            user_units_per_minute=args.user_units_per_minute,
            project_units_per_minute=args.project_units_per_minute,
            user_concurrency=args.user_concurrency,
            latency_seconds=args.latency_seconds,
        ),
        push=PushSettings(pubsub_emulator_host=args.pubsub_emulator_host, push_endpoint=args.push_endpoint),
        history_retention=args.history_retention,
    )
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    with GoogleStandIn(settings) as standin:
        for account in args.account:
            standin.add_account(account)
        sys.stdout.write(f"Google stand-in at {standin.base_url} (admin API under /standin/)\n")
        sys.stdout.flush()
        stopped.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
