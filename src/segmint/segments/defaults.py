"""The segments a new type starts with: A/B/C 80/15/5 for Pareto, the default RFM map with a
description and a recommended action for each segment."""

from __future__ import annotations

from decimal import Decimal

from segmint.engine import DEFAULT_RFM_MAP
from segmint.segments.schemas import SegmentSpec

PARETO_DEFAULTS = (
    SegmentSpec(
        name="A",
        threshold=Decimal(80),
        visit_every_days=14,
        priority=1,
        description="Your highest-value customers: together 80 % of sales, typically about "
        "20 % of customers.",
        recommended_action="Visit often, protect the relationship, plan growth together.",
    ),
    SegmentSpec(
        name="B",
        threshold=Decimal(15),
        visit_every_days=30,
        priority=2,
        description="Mid-tier customers: the next 15 % of sales.",
        recommended_action="Develop the ones that can grow into A; keep the rest served.",
    ),
    SegmentSpec(
        name="C",
        threshold=Decimal(5),
        visit_every_days=90,
        priority=3,
        description="Lower-volume customers: the last 5 % of sales, usually the majority.",
        recommended_action="Serve efficiently: phone, web shop, route visits.",
    ),
)

_RFM_TEXT = {
    "Champions": (
        "Bought recently, buy often and spend the most.",
        "Reward them, ask for referrals, offer new products first.",
        14,
    ),
    "Loyal": (
        "Buy regularly and spend well; respond to attention.",
        "Upsell higher-value products, ask for reviews, keep them engaged.",
        21,
    ),
    "Potential Loyalist": (
        "Recent customers with average frequency and spend.",
        "Offer a loyalty programme or account plan; recommend related products.",
        30,
    ),
    "New Customers": (
        "Bought most recently, but not often yet.",
        "Onboard them well: a visit, the catalogue, early support.",
        21,
    ),
    "Promising": (
        "Recent buyers with little spend so far.",
        "Build awareness: samples, trial offers, a follow-up call.",
        30,
    ),
    "Need Attention": (
        "Above-average recency, frequency and spend, but slipping.",
        "Make a limited-time offer; recommend based on past purchases.",
        30,
    ),
    "About to Sleep": (
        "Below average on recency, frequency and spend; will be lost without action.",
        "Share useful information, a recommendation, a reason to order again.",
        45,
    ),
    "At Risk": (
        "Spent well and often, but a long time ago.",
        "Reach out personally: a visit, a tailored offer, ask what changed.",
        14,
    ),
    "Can't Lose Them": (
        "Used to be among the best and most frequent; have not bought for a long time.",
        "Win them back with a senior visit or a new offer; find out why they left.",
        7,
    ),
    "Hibernating": (
        "Last purchase long ago, few orders, low spend.",
        "Offer other relevant products and special prices; recreate the value.",
        90,
    ),
    "Lost": (
        "Lowest recency, frequency and spend.",
        "Revive interest with an outreach campaign, or let them go.",
        180,
    ),
}

RFM_DEFAULTS = tuple(
    SegmentSpec(
        name=name,
        cells=list(cells),
        visit_every_days=_RFM_TEXT[name][2],
        priority=position + 1,
        description=_RFM_TEXT[name][0],
        recommended_action=_RFM_TEXT[name][1],
    )
    for position, (name, cells) in enumerate(DEFAULT_RFM_MAP)
)
