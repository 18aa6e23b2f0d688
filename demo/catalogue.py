"""The demo's fixed catalogue: names, companies, channels, engagement mix, campaigns, segments, tags, users.

Only data: the draws (demo.draw) pick from it with the seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from contacts.models import Channel, TouchpointKind

HISTORY_DAYS = 730


BATCH_SIZE = 2000


TWO_PLACES = Decimal("0.01")


K = TouchpointKind


C = Channel


FIRST_NAMES = [
    "Ada",
    "Alan",
    "Amara",
    "Ana",
    "Andrea",
    "Arjun",
    "Aya",
    "Ben",
    "Bianca",
    "Carlos",
    "Chen",
    "Chloe",
    "Daniel",
    "Dara",
    "Elena",
    "Emil",
    "Emma",
    "Fatima",
    "Felix",
    "Freya",
    "Grace",
    "Hana",
    "Hugo",
    "Ines",
    "Isaac",
    "Ivan",
    "Jade",
    "James",
    "Jonas",
    "Julia",
    "Kai",
    "Karin",
    "Lars",
    "Laura",
    "Leo",
    "Lina",
    "Lucas",
    "Maya",
    "Mei",
    "Mila",
    "Nadia",
    "Noah",
    "Nora",
    "Olga",
    "Omar",
    "Oscar",
    "Paula",
    "Priya",
    "Rafael",
    "Rosa",
    "Sam",
    "Sara",
    "Sofia",
    "Tariq",
    "Tom",
    "Uma",
    "Victor",
    "Yara",
    "Zoe",
]


LAST_NAMES = [
    "Adams",
    "Ahmed",
    "Andersen",
    "Bauer",
    "Becker",
    "Bianchi",
    "Brown",
    "Chen",
    "Clarke",
    "Costa",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Gomez",
    "Hansen",
    "Hoffmann",
    "Ivanova",
    "Jensen",
    "Johnson",
    "Kim",
    "Kowalski",
    "Kumar",
    "Larsen",
    "Lee",
    "Lopez",
    "Martin",
    "Meyer",
    "Moreau",
    "Muller",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Olsen",
    "Patel",
    "Peters",
    "Petrov",
    "Rossi",
    "Santos",
    "Schmidt",
    "Silva",
    "Singh",
    "Smith",
    "Suzuki",
    "Tanaka",
    "Taylor",
    "Wagner",
    "Walker",
    "Weber",
    "Williams",
    "Wilson",
    "Wong",
    "Yilmaz",
    "Young",
    "Zhang",
]


MAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "inbox.example")


COMPANY_FIRST = [
    "Acme",
    "Blue",
    "Bright",
    "Cedar",
    "Delta",
    "Ever",
    "Falcon",
    "Granite",
    "Harbor",
    "Iron",
    "Juniper",
    "Kite",
    "Lumen",
    "Maple",
    "Nova",
    "Orbit",
]


COMPANY_SECOND = [
    "Analytics",
    "Bakery",
    "Clinic",
    "Consulting",
    "Foods",
    "Labs",
    "Logistics",
    "Media",
    "Outdoor",
    "Robotics",
    "Studio",
    "Supply",
]


COUNTRIES = ("US", "GB", "DE", "FR", "NL", "ES", "SE", "CA", "AU")


COUNTRY_WEIGHTS = (0.34, 0.14, 0.12, 0.09, 0.07, 0.07, 0.05, 0.07, 0.05)


# Acquisition channels and their shares of new contacts.
ACQUISITION = (
    (C.ORGANIC_SEARCH, 0.24),
    (C.PAID_SEARCH, 0.16),
    (C.PAID_SOCIAL, 0.13),
    (C.ORGANIC_SOCIAL, 0.08),
    (C.DIRECT, 0.11),
    (C.EMAIL, 0.06),
    (C.REFERRAL, 0.08),
    (C.AFFILIATE, 0.05),
    (C.DISPLAY, 0.05),
    (C.EVENTS, 0.04),
)


PAID_CHANNELS = {C.PAID_SEARCH, C.PAID_SOCIAL, C.DISPLAY, C.AFFILIATE}


# Engagement touches: (kind, channel, weight). Email kinds need marketing consent.
ENGAGEMENT = (
    (K.SITE_VISIT, C.WEB, 0.36),
    (K.EMAIL_OPEN, C.EMAIL, 0.22),
    (K.EMAIL_CLICK, C.EMAIL, 0.12),
    (K.CONTENT_DOWNLOAD, C.WEB, 0.1),
    (K.FORM_SUBMIT, C.WEB, 0.06),
    (K.WEBINAR, C.EVENTS, 0.05),
    (K.CHAT, C.CHAT, 0.05),
    (K.SOCIAL_SHARE, C.ORGANIC_SOCIAL, 0.04),
)


EMAIL_KINDS = {K.EMAIL_OPEN, K.EMAIL_CLICK}


@dataclass(frozen=True)
class CampaignPlan:
    """A demo campaign, placed relative to the start of the two-year window."""

    name: str
    stem: str
    channel: str
    start_day: int
    days: int | None  # None: still running
    cost: int
    objective: str
    description: str


CAMPAIGNS = (
    CampaignPlan(
        "Search - always on",
        "search-always-on",
        C.PAID_SEARCH,
        0,
        None,
        48000,
        "engagement",
        "Brand and category keywords, all year.",
    ),
    CampaignPlan(
        "Social prospecting",
        "social-prospecting",
        C.PAID_SOCIAL,
        60,
        240,
        26000,
        "engagement",
        "Lookalike audiences on social networks.",
    ),
    CampaignPlan(
        "Spring sale",
        "spring-sale",
        C.EMAIL,
        150,
        21,
        3500,
        "purchase",
        "Newsletter offer to subscribed prospects and customers.",
    ),
    CampaignPlan(
        "Lifecycle marketing webinar series",
        "webinar-series",
        C.EVENTS,
        200,
        120,
        9000,
        "consideration",
        "Monthly live webinars with a product demo.",
    ),
    CampaignPlan("Black Friday", "black-friday", C.EMAIL, 330, 10, 6000, "purchase", "Discount week for subscribers."),
    CampaignPlan(
        "Display retargeting",
        "display-retargeting",
        C.DISPLAY,
        380,
        180,
        15000,
        "consideration",
        "Retargeting of site visitors who did not buy.",
    ),
    CampaignPlan(
        "Partner co-marketing",
        "partner-co-marketing",
        C.AFFILIATE,
        420,
        200,
        12000,
        "purchase",
        "Affiliate partners' newsletters and reviews.",
    ),
    CampaignPlan(
        "Social prospecting - year two",
        "social-prospecting-2",
        C.PAID_SOCIAL,
        450,
        None,
        21000,
        "engagement",
        "Second-year social campaign, still running.",
    ),
    CampaignPlan(
        "We miss you",
        "win-back",
        C.EMAIL,
        520,
        60,
        2500,
        "retention",
        "Win-back offer for customers who have gone quiet.",
    ),
    CampaignPlan("Spring sale", "spring-sale", C.EMAIL, 515, 21, 4000, "purchase", "Newsletter offer, second year."),
    CampaignPlan(
        "Black Friday",
        "black-friday",
        C.EMAIL,
        695,
        10,
        7000,
        "purchase",
        "Discount week for subscribers, second year.",
    ),
)


SEGMENTS = (
    ("At-risk customers", "Customers who have gone quiet: the win-back audience.", {"stage": ["at_risk"]}),
    ("Loyal and advocates", "The best customers: loyalty and advocacy stages.", {"stage": ["loyalty", "advocacy"]}),
    ("Open B2B leads", "Prospects with a company, not yet customers.", {"tag": ["b2b"], "stage": ["consideration"]}),
)


TAGS = ("b2b", "newsletter", "webinar", "vip", "partner")


DEMO_USERS = (
    # username, first name, last name, role
    ("admin", "Alex", "Admin", "admin"),
    ("marketer", "Mia", "Marketer", "marketer"),
    ("rep", "Ravi", "Rep", "sales_rep"),
    ("rep2", "Rosa", "Rep", "sales_rep"),
)


REPLAY_STEP_DAYS = 30


SNAPSHOT_STEP_DAYS = 7
