"""What each cart event adds, and the open-cart timer that derives abandonment.

A cart is abandoned either explicitly (``cart.abandoned``) or when it has seen no
activity for ``cart_abandon_timeout_seconds``; the worker's timer (see
``WindowStore.expire_carts``) moves such carts out of the open set and counts them
in the bucket of the moment they became abandoned. Both paths go through one
"ended" marker, so a cart is never counted abandoned twice.
"""

from __future__ import annotations

from pydantic import BaseModel

from cxpulse.settings import Settings
from processors import keys
from processors.fold import Update, base_update
from streams.events import CartAbandoned, CartCreated, CartItemAdded, CheckoutCompleted, CheckoutStarted

ENDED_TTL = 7 * 86400


def fold_cart(settings: Settings, event: BaseModel) -> Update:
    update = base_update(settings, "carts", event, event.channel)  # type: ignore[attr-defined]
    counts = update.counts
    app = settings.app_id
    cart_id = event.cart_id  # type: ignore[attr-defined]
    member = f"{update.segment}\t{cart_id}"
    open_set, ended = keys.open_carts(app), keys.cart_ended(app, cart_id)

    if isinstance(event, (CartCreated, CartItemAdded, CheckoutStarted)):
        if isinstance(event, CartCreated):
            counts["created"] = 1
        elif isinstance(event, CheckoutStarted):
            counts["checkouts_started"] = 1
        update.ops.append(["cart_touch", open_set, member, update.ts, ended])
    elif isinstance(event, CheckoutCompleted):
        counts["completed"] = 1
        counts[f"revenue:{event.currency}"] = event.amount
        counts[f"orders:{event.currency}"] = 1
        update.ops.append(["cart_end", open_set, member, ended, ENDED_TTL, ""])
    elif isinstance(event, CartAbandoned):
        # counted by the op, and only if the timer has not counted this cart already
        update.ops.append(["cart_end", open_set, member, ended, ENDED_TTL, "abandoned_explicit"])
    return update
