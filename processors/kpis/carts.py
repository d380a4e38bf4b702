"""Cart KPIs (abandonment, completion, average order value). Pure: no clock, no I/O.

Same conventions as ``processors/kpis/calls.py``: ratios 0–1, ``None`` for no data,
``ValueError`` for negative or non-finite counters, ratios of summed counters.

A cart is counted *created* at ``cart.created``, *completed* at ``checkout.completed``
and *abandoned* either at an explicit ``cart.abandoned`` or by the worker's timer when
the cart has had no activity for ``cart_abandon_timeout_seconds`` (default 30 min; the
seeds leave the timeout unspecified, catalog §6 item 10). Each is counted in the
bucket of its own event time, so these are *cross-event* shares: a cart created just
before a window can be completed or abandoned inside it, and the shares are capped at
1. Carts still open belong to neither, so completion + abandonment is not exactly 1 in
a window: both are computed from their own counters and neither is derived from the
other.
"""

from __future__ import annotations

from processors.kpis.calls import _check, ratio

# KPI name (the ``/api/kpis`` field under ``windows.<window>.kpis``) -> what it is,
# its unit and the windowed Prometheus gauge that carries it.
CART_KPIS: dict[str, dict[str, str]] = {
    "abandonment_rate": {
        "description": "Share of created carts abandoned (explicitly or after the inactivity timeout) "
        "without a completed checkout",
        "unit": "ratio",
        "metric": "cx_cart_abandonment_ratio",
    },
    "completion_rate": {
        "description": "Share of created carts that reached a completed checkout (what seed 000's formula computes)",
        "unit": "ratio",
        "metric": "cx_cart_completion_ratio",
    },
    "aov": {
        "description": "Average order value: revenue / completed orders, per currency",
        "unit": "currency",
        "metric": "cx_cart_average_order_value",
    },
}


def abandonment_rate(*, created: float, abandoned: float) -> float | None:
    """Cart abandonment rate: ``abandoned / created`` (M22), capped at 1.

    Seed 000's definition: « le pourcentage de clients potentiels qui ajoutent des
    articles à leur panier mais n'aboutissent jamais à un achat ». ``abandoned`` counts
    explicit ``cart.abandoned`` events plus carts the worker's timer closed after
    ``cart_abandon_timeout_seconds`` of inactivity, so it is known at the latest one
    timeout after the cart's last event. 000's own formula computes the opposite
    figure: see :func:`seed000_cart_formula`.
    """
    return ratio(_check("abandoned", abandoned), _check("created", created))


def completion_rate(*, created: float, completed: float) -> float | None:
    """Cart completion (checkout conversion) rate: ``completed / created``, capped at 1.

    Exported beside the abandonment rate, as the catalog advises ("Export both
    completion % and abandonment %"), because seed 000's formula yields this one.
    """
    return ratio(_check("completed", completed), _check("created", created))


def seed000_cart_formula(*, completed: float, created: float) -> float | None:
    """What seed 000's « taux d'abandon de panier » formula really computes: the completion rate.

    000: « Divisez le nombre d'achats finalisés par le nombre de paniers créés sur une
    période donnée. Multipliez par 100 pour obtenir un pourcentage. » That is
    completed / created, the share of carts that *did* end in a purchase, which
    contradicts 000's own definition of abandonment (carts that « n'aboutissent jamais
    à un achat », catalog §6 item 10). Catalog D6: 200 carts created, 50 purchases
    completed -> the formula gives 25 %, the completion rate; abandonment by 000's
    definition is 75 %. cxpulse never labels this figure "abandonment": it is
    :func:`completion_rate`, kept under this name so the seed's reading is testable.
    """
    return completion_rate(created=created, completed=completed)


def average_order_value(*, revenue: float, orders: float) -> float | None:
    """AOV: revenue / completed orders (M25), in the orders' currency; ``None`` without orders.

    000, 001 and 004 use « valeur moyenne d'achat » only as a CLV/LTV factor (004: « votre
    client moyen dépense 50 € par transaction ») and give no formula; revenue ÷ orders
    is the standard one. Amounts in different currencies must not be added (the seeds
    mix $ and €, catalog §6 item 27): the worker keeps revenue and orders per currency,
    and this is called once per currency.
    """
    revenue = _check("revenue", revenue)
    orders = _check("orders", orders)
    if orders == 0:
        return None
    return revenue / orders
