"""Deterministic sample payment exports: the stand-in for the nightly files.

In production the day's exports from PayPal, Stripe and Mastercard are dropped into
``data/raw/<run_date>/`` by whatever fetches them (an SFTP sync, a bucket mount...).
This module fakes those drops so the example runs anywhere, offline. Each source keeps
its own habits on purpose, because reconciling them is the point of the pipeline:

- ``paypal.csv``: ``Date`` as DD/MM/YY (plus ``Time``), ``Gross`` like "1,234.50"
  (refunds negative), ``Currency`` as an ISO code ("EUR");
- ``stripe.csv``: ``created`` as Unix seconds (UTC), ``amount`` in integer cents,
  ``currency`` in lower case ("usd");
- ``mastercard.csv``: ``Transaction Date`` as MM/DD/YY, ``Amount`` like "1234.50",
  ``Currency Code`` as an ISO 4217 number ("978" for EUR).

The random generator is seeded with the run date, so a date always yields the same
files; existing files are never overwritten, so real exports placed there are kept.
"""

from __future__ import annotations

import csv
import random
import string
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

PAYPAL_HEADER = [
    "Date",
    "Time",
    "TimeZone",
    "Name",
    "Type",
    "Status",
    "Currency",
    "Gross",
    "Transaction ID",
]
STRIPE_HEADER = ["id", "created", "amount", "currency", "status", "customer_email"]
MASTERCARD_HEADER = ["Reference Number", "Transaction Date", "Merchant", "Amount", "Currency Code"]

_CUSTOMERS = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra"]
_MERCHANTS = ["ACME WEB STORE", "ACME MARKETPLACE", "ACME POS LONDON", "ACME POS BERLIN"]


def write_exports(run_date: date | str, raw_dir: Path) -> dict[str, str]:
    """Write the day's three exports into ``raw_dir``; return ``{file: "written" | "kept"}``."""
    day = date.fromisoformat(str(run_date))
    rng = random.Random(f"finance-daily/{day.isoformat()}")
    raw_dir.mkdir(parents=True, exist_ok=True)
    makers: dict[str, tuple[list[str], Callable[[random.Random, date], Iterator[list[str]]]]] = {
        "paypal.csv": (PAYPAL_HEADER, _paypal_rows),
        "stripe.csv": (STRIPE_HEADER, _stripe_rows),
        "mastercard.csv": (MASTERCARD_HEADER, _mastercard_rows),
    }
    actions = {}
    for name, (header, rows) in makers.items():
        # Draw the rows even when the file is kept, so each file depends only on the date.
        lines = [header, *rows(rng, day)]
        path = raw_dir / name
        if path.exists():
            actions[name] = "kept"
            continue
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(lines)
        actions[name] = "written"
    return actions


def _paypal_rows(rng: random.Random, day: date) -> Iterator[list[str]]:
    for _ in range(rng.randint(20, 40)):
        moment = _moment(rng, day)
        amount = _amount(rng)
        kind = "Payment"
        if rng.random() < 0.1:
            kind, amount = "Refund", -amount
        yield [
            moment.strftime("%d/%m/%y"),
            moment.strftime("%H:%M:%S"),
            "UTC",
            rng.choice(_CUSTOMERS),
            kind,
            "Completed",
            rng.choice(["EUR", "EUR", "GBP", "USD"]),
            f"{amount:,.2f}",
            _code(rng, string.ascii_uppercase + string.digits, 17),
        ]


def _stripe_rows(rng: random.Random, day: date) -> Iterator[list[str]]:
    for _ in range(rng.randint(20, 40)):
        name = rng.choice(_CUSTOMERS)
        yield [
            "ch_" + _code(rng, string.ascii_letters + string.digits, 24),
            str(int(_moment(rng, day).timestamp())),
            str(int(_amount(rng) * 100)),
            rng.choice(["usd", "usd", "eur"]),
            "succeeded",
            name.lower().replace(" ", ".") + "@example.com",
        ]


def _mastercard_rows(rng: random.Random, day: date) -> Iterator[list[str]]:
    for _ in range(rng.randint(20, 40)):
        yield [
            _code(rng, string.digits, 12),
            _moment(rng, day).strftime("%m/%d/%y"),
            rng.choice(_MERCHANTS),
            f"{_amount(rng):.2f}",
            rng.choice(["840", "978", "826"]),  # ISO 4217 numeric: USD, EUR, GBP
        ]


def _moment(rng: random.Random, day: date) -> datetime:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start + timedelta(seconds=rng.randrange(24 * 60 * 60))


def _amount(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(500, 150_000)) / 100


def _code(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))
