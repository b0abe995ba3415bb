"""``dialerd delete CAMPAIGN --contact ID``: delete one contact with its history and attempts.

As ``DELETE /api/v1/campaigns/{campaign}/contacts/{id}``: a contact in a call right now (being
dialled, ringing, connected, in wrap-up or on preview offer) is refused, naming the contact and
the attempt, with exit 75 (EX_TEMPFAIL: try again when the call has ended), as ``dialerd move``
and ``edit`` of one contact are; nothing is deleted then. The deleted contact's id is never
given to another contact.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dialerd.cli.db import add_db_option, add_json_option, open_store, write_json
from dialerd.cli.errors import EX_NOINPUT, CliError
from dialerd.domain.clock import SystemClock


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "delete", help="delete a contact with its history (refused during its call, exit 75)"
    )
    p.add_argument("campaign", metavar="CAMPAIGN")
    p.add_argument("--contact", type=int, required=True, metavar="ID", help="contact id")
    add_db_option(p)
    add_json_option(p)
    p.set_defaults(func=run_delete)


async def run_delete(args: argparse.Namespace) -> int:
    from dialerd.store import lookup  # the store, only when it runs

    async with open_store(args) as store:
        campaign = await store.get_campaign(args.campaign)
        contact = await store.get_contact(args.contact)
        if contact.campaign_id != campaign.id:
            raise CliError(f"no contact {args.contact} in campaign {campaign.name!r}", EX_NOINPUT)
        await lookup.delete_contact(store, contact.id, SystemClock().now())
    if args.json:
        write_json({"campaign": campaign.name, "deleted": contact.id})
    else:
        sys.stdout.write(f"contact {contact.id} deleted from {campaign.name}\n")
    return 0
