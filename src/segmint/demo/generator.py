"""Deterministic, realistic demo data: one manufacturer and two wholesalers that sell its brands.

Everything here is pure: the same ``lines``, ``seed`` and ``as_of`` give byte-identical Parquet
files. Sales lines are generated and written chunk by chunk (one Parquet row group per chunk), so
``lines=50_000_000`` runs in bounded memory; only customers and products (tens of thousands of
rows at most) are held whole.

The model, per organization:

* **Customers** have a Pareto-like size (lognormal), a home branch, territory and sales rep, a
  ``first_seen`` date (most before the three-year window, some new during it), an optional churn
  date after which they stop buying, a few that stopped before the window (known but inactive),
  and a growth or decline trend. VAT numbers are real EU formats with correct check digits (DE,
  AT, BE, NL, FR), written in the ways people type them; some are invalid or missing, and the
  same company buying from both wholesalers (and from the manufacturer) has the same VAT number
  in each organization.
* **Products** have a brand and a category; the wholesalers carry the manufacturer's brands next
  to other brands.
* **Sales lines** cover three years ending ``as_of``: daily volume follows a monthly seasonality,
  weekdays and a slight growth; invoices have several lines; about 2 % of the lines are credit
  notes with their own document numbers and negative amounts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.random import PCG64, Generator, SeedSequence
from stdnum.at import uid as at_uid
from stdnum.eu import vat as eu_vat
from stdnum.iso7064 import mod_11_10
from stdnum.luhn import calc_check_digit as luhn_check_digit

from segmint.demo import DEFAULT_LINES, DEFAULT_SEED
from segmint.store.schema import AMOUNT_TYPE, CUSTOMERS, PRODUCTS, SALES_LINES, Table

DEFAULT_CHUNK_LINES = 200_000
YEARS = 3
CREDIT_NOTE_LINE_SHARE = 0.02

MANUFACTURER = "northwind-mfg"
WHOLESALERS = ("alpha-wholesale", "beta-distribution")
ORGS = (MANUFACTURER, *WHOLESALERS)

FILES = {
    "customers": "customers.parquet",
    "products": "products.parquet",
    "sales": "sales_lines.parquet",
}

# --------------------------------------------------------------------------------------------
# Arrow schemas: exactly the canonical columns (without ``org``), with the canonical types.

_PRECISION, _SCALE = (int(x) for x in AMOUNT_TYPE[AMOUNT_TYPE.index("(") + 1 : -1].split(","))
_AMOUNT = pa.decimal128(_PRECISION, _SCALE)
_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "INTEGER": pa.int32(),
    "DATE": pa.date32(),
    AMOUNT_TYPE: _AMOUNT,
}


def arrow_schema(table: Table) -> pa.Schema:
    """The Arrow schema of a canonical table, without ``org``."""
    return pa.schema(
        [pa.field(c.name, _ARROW_TYPES[c.sql_type], nullable=not c.required) for c in table.columns]
    )


SALES_SCHEMA = arrow_schema(SALES_LINES)
CUSTOMERS_SCHEMA = arrow_schema(CUSTOMERS)
PRODUCTS_SCHEMA = arrow_schema(PRODUCTS)

# --------------------------------------------------------------------------------------------
# The three organizations.

MONTH_FACTOR = np.array([0.82, 0.92, 1.08, 1.05, 1.08, 1.02, 0.88, 0.80, 1.10, 1.12, 1.06, 0.85])
WEEKDAY_FACTOR = np.array([1.05, 1.0, 1.0, 1.0, 0.9, 0.08, 0.0])  # Monday .. Sunday
YEARLY_GROWTH = 0.04

MANUFACTURER_BRANDS = {
    "Northwind": ("Fasteners", "Fittings"),
    "Nordic Steel": ("Hand Tools", "Storage"),
    "Fjord Tools": ("Power Tools", "Abrasives"),
    "Polar Grip": ("Safety", "Adhesives & Sealants"),
}

# category -> (median list price in EUR, typical quantity, item names, variants)
CATEGORIES: dict[str, tuple[float, float, tuple[str, ...], tuple[str, ...]]] = {
    "Fasteners": (
        6.0,
        20.0,
        ("Hex Bolt", "Wood Screw", "Frame Anchor", "Washer", "Threaded Rod", "Hex Nut"),
        ("M6", "M8", "M10", "M12", "4x40", "5x60", "6x80"),
    ),
    "Fittings": (
        7.5,
        12.0,
        ("Press Fitting", "Ball Valve", "Elbow", "Tee", "Coupling", "Reducer"),
        ("15mm", "22mm", "28mm", "35mm"),
    ),
    "Hand Tools": (
        24.0,
        3.0,
        ("Claw Hammer", "Screwdriver Set", "Combination Pliers", "Spanner Set", "Spirit Level"),
        ("", "Pro", "XL", "Compact"),
    ),
    "Storage": (
        65.0,
        1.5,
        ("Tool Case", "Parts Organizer", "Shelving Unit", "Tool Trolley"),
        ("S", "M", "L"),
    ),
    "Power Tools": (
        189.0,
        1.2,
        ("Cordless Drill", "Angle Grinder", "Jigsaw", "Impact Driver", "Circular Saw"),
        ("12V", "18V", "1200W", "Brushless"),
    ),
    "Abrasives": (
        5.5,
        15.0,
        ("Cutting Disc", "Sanding Sheet", "Flap Disc", "Grinding Disc"),
        ("115mm", "125mm", "P80", "P120"),
    ),
    "Safety": (
        9.0,
        8.0,
        ("Work Gloves", "Safety Glasses", "Ear Defenders", "Hard Hat", "Hi-Vis Vest"),
        ("S", "M", "L", "XL"),
    ),
    "Adhesives & Sealants": (
        8.0,
        10.0,
        ("Silicone Sealant", "Construction Adhesive", "PU Foam", "Thread Locker"),
        ("50ml", "300ml", "750ml"),
    ),
    "Electrical": (
        14.0,
        6.0,
        ("Cable Ties", "Junction Box", "Extension Lead", "LED Work Light", "Cable Reel"),
        ("10m", "25m", "IP54", "IP65"),
    ),
}


@dataclass(frozen=True)
class OrgSpec:
    slug: str
    name: str
    kind: str  # "manufacturer" | "wholesaler"
    line_share: float
    customer_id: tuple[str, int, int]  # prefix, first number, zero-padded width
    product_id: tuple[str, int]  # prefix, zero-padded width
    documents: tuple[str, str, int]  # invoice prefix, credit note prefix, width
    countries: dict[str, float]
    # branch -> territory -> countries served
    branches: dict[str, dict[str, tuple[str, ...]]]
    other_brands: tuple[str, ...] = ()
    invoice_extra_lines: float = 3.5  # invoice lines = 1 + Poisson(this)
    price_factor: float = 1.0
    quantity_factor: float = 1.0


SPECS: dict[str, OrgSpec] = {
    s.slug: s
    for s in (
        OrgSpec(
            slug=MANUFACTURER,
            name="Northwind Manufacturing AB",
            kind="manufacturer",
            line_share=0.20,
            customer_id=("NW-K", 1001, 5),
            product_id=("NW-", 5),
            documents=("NW-INV-", "NW-CN-", 8),
            countries={"DE": 0.45, "NL": 0.2, "BE": 0.12, "AT": 0.1, "FR": 0.13},
            branches={
                "DACH Office": {"Key Accounts DACH": ("DE", "AT")},
                "Benelux Office": {"Key Accounts Benelux": ("NL", "BE")},
                "France Office": {"Key Accounts France": ("FR",)},
                "Head Office": {"Distribution Partners": ()},
            },
            invoice_extra_lines=6.0,
            price_factor=0.55,
            quantity_factor=8.0,
        ),
        OrgSpec(
            slug="alpha-wholesale",
            name="Alpha Wholesale GmbH",
            kind="wholesaler",
            line_share=0.42,
            customer_id=("", 100001, 6),
            product_id=("A", 6),
            documents=("AI", "AC", 9),
            countries={"DE": 0.58, "AT": 0.16, "NL": 0.1, "BE": 0.07, "FR": 0.09},
            branches={
                "Hamburg": {"Hamburg City": ("DE",), "North Sea Coast": ("DE",)},
                "Berlin": {"Berlin": ("DE",), "Saxony": ("DE",)},
                "Köln": {"Rhineland": ("DE", "FR"), "Ruhr": ("DE",), "Benelux": ("NL", "BE")},
                "München": {"Upper Bavaria": ("DE",), "Swabia": ("DE", "FR")},
                "Wien": {"Vienna": ("AT",), "Styria": ("AT",)},
            },
            other_brands=("Atlas", "Kestrel", "Ironbridge", "Brightline", "Sentinel", "Hexa"),
        ),
        OrgSpec(
            slug="beta-distribution",
            name="Beta Distribution B.V.",
            kind="wholesaler",
            line_share=0.38,
            customer_id=("K-", 20001, 6),
            product_id=("4", 6),
            documents=("B-INV-", "B-CRN-", 8),
            countries={"NL": 0.4, "BE": 0.24, "DE": 0.2, "FR": 0.13, "AT": 0.03},
            branches={
                "Utrecht": {"Utrecht": ("NL",), "Gelderland": ("NL",)},
                "Rotterdam": {"Zuid-Holland": ("NL",), "Zeeland": ("NL", "BE")},
                "Antwerpen": {
                    "Antwerpen": ("BE",),
                    "Vlaanderen": ("BE",),
                    "Wallonie": ("BE", "FR"),
                },
                "Lille": {"Hauts-de-France": ("FR",), "Grand Est": ("FR",)},
                "Düsseldorf": {"Nordrhein-Westfalen": ("DE", "AT"), "Niedersachsen": ("DE",)},
            },
            other_brands=("Atlas", "Verdant", "Corvus", "Titan Pro", "Bluewater", "Sentinel"),
            invoice_extra_lines=3.0,
        ),
    )
}

# The wholesalers are also the manufacturer's customers (its distribution partners).
WHOLESALER_COMPANIES = {
    "alpha-wholesale": ("Alpha Wholesale GmbH", "DE"),
    "beta-distribution": ("Beta Distribution B.V.", "NL"),
}

# --------------------------------------------------------------------------------------------
# Names.

_SURNAMES = {
    "DE": ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
           "Schulz", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Neumann", "Schwarz",
           "Zimmermann", "Braun", "Krüger", "Hartmann", "Lange", "Werner", "Krause", "Lehmann"),
    "AT": ("Gruber", "Huber", "Bauer", "Wagner", "Pichler", "Steiner", "Moser", "Mayer",
           "Hofer", "Leitner", "Berger", "Fuchs", "Eder", "Fischer", "Schmid", "Winkler"),
    "NL": ("de Vries", "Jansen", "van den Berg", "Bakker", "Visser", "Smit", "Meijer", "de Boer",
           "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker"),
    "BE": ("Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens",
           "Wouters", "Dubois", "Lambert", "Dupont", "De Smet", "Vermeulen"),
    "FR": ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
           "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "Roux"),
}  # fmt: skip
_TRADES = {
    "DE": ("Bau", "Haustechnik", "Metallbau", "Elektrotechnik", "Sanitär", "Maschinenbau",
           "Werkzeuge", "Montage", "Industriebedarf", "Holzbau", "Dachtechnik"),
    "AT": ("Bau", "Haustechnik", "Metalltechnik", "Elektro", "Installationen", "Tischlerei"),
    "NL": ("Installatietechniek", "Bouw", "Metaal", "Techniek", "Elektro", "Onderhoud",
           "Machinebouw", "Timmerwerken"),
    "BE": ("Bouw", "Techniek", "Construct", "Industrie", "Elektro", "Renovatie"),
    "FR": ("Bâtiment", "Industrie", "Équipements", "Construction", "Maintenance", "Métallerie",
           "Outillage"),
}  # fmt: skip
_LEGAL_FORMS = {
    "DE": ("GmbH", "GmbH", "GmbH & Co. KG", "KG", "AG", "e.K."),
    "AT": ("GmbH", "GmbH", "KG", "OG"),
    "NL": ("B.V.", "B.V.", "V.O.F."),
    "BE": ("BV", "NV", "SRL", "SA"),
    "FR": ("SARL", "SAS", "SA", "EURL"),
}
_SITE_SUFFIXES = (" - Werk 2", " Filiale Nord", " (Niederlassung)", " - Site 2", " Depot")
_FIRST_NAMES = ("Anna", "Jonas", "Lena", "Lukas", "Sophie", "Finn", "Emma", "Noah", "Mila",
                "Daan", "Julie", "Thomas", "Sarah", "Pieter", "Claire", "Maxime", "Eva",
                "Tobias", "Lisa", "Bram", "Laura", "Felix", "Marie", "Sem")  # fmt: skip
_LAST_NAMES = ("Becker", "Hoffmann", "Janssen", "Vermeer", "Dubois", "Wagner", "Peeters",
               "Kramer", "Schulz", "Moreau", "de Wit", "Lehmann", "Maes", "Brouwer", "Keller",
               "Fontaine", "Vogel", "Smits", "Roth", "Girard")  # fmt: skip

# --------------------------------------------------------------------------------------------
# VAT numbers.

VAT_COUNTRIES = ("DE", "AT", "BE", "NL", "FR")


def _digits(rng: Generator, n: int) -> str:
    """``n`` random digits, the first not zero."""
    return str(int(rng.integers(10 ** (n - 1), 10**n)))


def make_vat(rng: Generator, country: str) -> str:
    """A valid VAT number of ``country`` in compact form (prefix, no spaces)."""
    while True:
        if country == "DE":
            body = _digits(rng, 8)
            return f"DE{body}{mod_11_10.calc_check_digit(body)}"
        if country == "AT":
            body = "U" + _digits(rng, 7)
            return f"AT{body}{at_uid.calc_check_digit(body)}"
        if country == "BE":
            first8 = "0" + _digits(rng, 7)
            check = 97 - int(first8) % 97
            return f"BE{first8}{check:02d}"
        if country == "NL":
            body = _digits(rng, 8)
            check = sum((9 - i) * int(d) for i, d in enumerate(body)) % 11
            if check == 10:
                continue
            suffix = "01" if rng.random() < 0.9 else f"{int(rng.integers(2, 20)):02d}"
            return f"NL{body}{check}B{suffix}"
        if country == "FR":
            body = _digits(rng, 8)
            siren = body + luhn_check_digit(body)
            return f"FR{(int(siren) * 100 + 12) % 97:02d}{siren}"
        raise ValueError(f"no VAT generator for {country}")


def format_vat(rng: Generator, compact: str) -> str:
    """``compact`` written the way a person might have typed it (still valid)."""
    cc, body = compact[:2], compact[2:]
    style = rng.random()
    if style < 0.45:
        return compact
    if style < 0.6:
        return compact.lower()
    if style < 0.7:
        return f"{cc} {body}"
    if cc == "DE":
        return f"DE {body[:3]} {body[3:6]} {body[6:]}"
    if cc == "AT":
        return f"ATU {body[1:5]} {body[5:]}"
    if cc == "BE":
        return f"BE {body[:4]}.{body[4:7]}.{body[7:]}"
    if cc == "NL":
        return f"NL {body[:4]}.{body[4:6]}.{body[6:9]}.{body[9:]}"
    return f"FR {body[:2]} {body[2:5]} {body[5:8]} {body[8:]}"


_PLACEHOLDERS = ("n/a", "applied for", "000000000", "TBD", "-")


def make_invalid_vat(rng: Generator, compact: str) -> str:
    """A VAT number as it appears in real data, but not valid (typo, no prefix, placeholder)."""
    kind = rng.random()
    if kind < 0.5:  # a typo in the check digit
        candidate = compact[:-1] + str((int(compact[-1]) + int(rng.integers(1, 10))) % 10)
        candidate = format_vat(rng, candidate)
    elif kind < 0.7:  # a digit missing
        candidate = compact[:-1]
    elif kind < 0.85:  # no country prefix
        candidate = compact[2:]
    else:
        candidate = _PLACEHOLDERS[int(rng.integers(len(_PLACEHOLDERS)))]
    if eu_vat.is_valid(candidate):  # pragma: no cover - a typo that happens to be valid
        return "n/a"
    return candidate


# --------------------------------------------------------------------------------------------
# The world: companies, customers and products of every organization (small, held whole).


@dataclass
class OrgData:
    spec: OrgSpec
    lines: int
    # customers
    customer_ids: list[str]
    customer_names: list[str]
    vat_numbers: list[str | None]
    vat_keys: list[str | None]
    customer_territory: np.ndarray  # index into territories
    customer_rep: np.ndarray  # index into reps
    first_seen: np.ndarray  # datetime64[D]
    last_active: np.ndarray  # datetime64[D]; no purchases after this day
    rate: np.ndarray  # relative order frequency
    trend: np.ndarray  # per year, log scale
    amount_factor: np.ndarray  # multiplies quantities
    discount: np.ndarray  # fraction off list price
    # dimensions
    branches: list[str]
    territories: list[str]
    territory_branch: np.ndarray
    reps: list[str]
    inside_sales: np.ndarray  # per branch: index into reps
    # products
    product_ids: list[str]
    product_names: list[str]
    product_brands: list[str]
    product_categories: list[str]
    price_cents: np.ndarray
    base_quantity: np.ndarray
    product_cum_weight: np.ndarray = field(repr=False)


def _org_rng(seed: int, org_index: int, stream: int) -> Generator:
    return Generator(PCG64(SeedSequence(seed, spawn_key=(org_index, stream))))


def window(as_of: date) -> tuple[date, date]:
    """First and last day of the three years of invoices ending ``as_of``."""
    try:
        start = as_of.replace(year=as_of.year - YEARS)
    except ValueError:  # 29 February
        start = as_of.replace(year=as_of.year - YEARS, day=28)
    return start + timedelta(days=1), as_of


def customer_counts(lines: int) -> dict[str, int]:
    """Customers per organization: a few thousand per wholesaler at the default size, growing
    with the square root of the number of lines; the manufacturer sells to fewer, bigger ones."""
    scale = math.sqrt(max(lines, 1) / DEFAULT_LINES)
    alpha = max(40, round(2800 * scale))
    beta = max(35, round(2300 * scale))
    return {
        "alpha-wholesale": alpha,
        "beta-distribution": beta,
        MANUFACTURER: max(12, round(0.08 * (alpha + beta))),
    }


def product_count(lines: int) -> int:
    return int(np.clip(round(2400 * (max(lines, 1) / DEFAULT_LINES) ** 0.25), 150, 20_000))


def split_lines(lines: int) -> dict[str, int]:
    shares = np.array([SPECS[o].line_share for o in ORGS])
    return dict(zip(ORGS, _apportion(lines, shares).tolist(), strict=True))


def _apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` that add up to ``total`` (largest remainder)."""
    w = np.asarray(weights, dtype=np.float64)
    if total <= 0 or w.sum() <= 0:
        return np.zeros(len(w), dtype=np.int64)
    exact = w * (total / w.sum())
    counts = np.floor(exact).astype(np.int64)
    rest = total - int(counts.sum())
    if rest:
        order = np.argsort(-(exact - counts), kind="stable")
        counts[order[:rest]] += 1
    return counts


@dataclass
class _Company:
    name: str
    country: str
    vat: str  # compact, valid
    size: float
    partner: bool = False  # one of the wholesalers, as a customer of the manufacturer


def _company_name(rng: Generator, country: str) -> str:
    surnames = _SURNAMES[country]
    s1 = surnames[int(rng.integers(len(surnames)))]
    trade = _TRADES[country][int(rng.integers(len(_TRADES[country])))]
    form = _LEGAL_FORMS[country][int(rng.integers(len(_LEGAL_FORMS[country])))]
    r = rng.random()
    if r < 0.2:
        s2 = surnames[int(rng.integers(len(surnames)))]
        if s2 != s1:
            return f"{s1} & {s2} {form}"
    if country == "FR":
        return f"{trade} {s1} {form}"
    if r < 0.35:
        return f"{s1} {form}"
    return f"{s1} {trade} {form}"


def _choose_country(rng: Generator, mix: dict[str, float], n: int) -> list[str]:
    keys = list(mix)
    p = np.array([mix[k] for k in keys])
    return [keys[i] for i in rng.choice(len(keys), size=n, p=p / p.sum())]


def _companies(seed: int, counts: dict[str, int]) -> tuple[list[_Company], dict[str, list[int]]]:
    """The shared pool of companies and, per organization, which company each customer record is.

    A share of the wholesalers' customers buy from both; the manufacturer's customers are the
    two wholesalers plus big accounts of the wholesalers and a few accounts of its own."""
    rng = _org_rng(seed, len(ORGS), 0)
    n_a, n_b = counts["alpha-wholesale"], counts["beta-distribution"]
    n_shared = max(3, round(0.15 * min(n_a, n_b)))
    a_only, b_only = n_a - n_shared, n_b - n_shared
    countries = (
        _choose_country(rng, SPECS["alpha-wholesale"].countries, a_only)
        + _choose_country(rng, {"DE": 0.4, "NL": 0.25, "BE": 0.15, "AT": 0.1, "FR": 0.1}, n_shared)
        + _choose_country(rng, SPECS["beta-distribution"].countries, b_only)
    )
    sizes = rng.lognormal(0.0, 1.5, size=len(countries))
    sizes[a_only : a_only + n_shared] *= 1.6  # companies buying from two suppliers are bigger
    companies = [
        _Company(_company_name(rng, c), c, make_vat(rng, c), float(s))
        for c, s in zip(countries, sizes, strict=True)
    ]
    members = {
        "alpha-wholesale": list(range(0, n_a)),
        "beta-distribution": list(range(a_only, a_only + n_shared + b_only)),
    }
    n_m = counts[MANUFACTURER]
    partners = []
    for name, country in WHOLESALER_COMPANIES.values():
        partners.append(len(companies))
        companies.append(_Company(name, country, make_vat(rng, country), 0.0, partner=True))
    # big accounts: drawn from the top quarter of the wholesalers' customers by size
    n_big = round(0.8 * (n_m - len(partners)))
    by_size = np.argsort(-sizes, kind="stable")[: max(n_big, len(sizes) // 4)]
    big = sorted(rng.choice(by_size, size=min(n_big, len(by_size)), replace=False).tolist())
    own = []
    mfr_mix = SPECS[MANUFACTURER].countries
    for c in _choose_country(rng, mfr_mix, n_m - len(partners) - len(big)):
        own.append(len(companies))
        size = float(rng.lognormal(1.5, 1.0))
        companies.append(_Company(_company_name(rng, c), c, make_vat(rng, c), size))
    members[MANUFACTURER] = partners + big + own
    return companies, members


def _customers(
    rng: Generator,
    spec: OrgSpec,
    companies: list[_Company],
    member_ids: list[int],
    start: date,
    as_of: date,
) -> dict:
    n = len(member_ids)
    member_ids = list(member_ids)
    # A few companies have two customer records (another site) with the same VAT number.
    n_sites = round(0.02 * n) if n >= 50 else 0
    site_of = {}
    if n_sites:
        for i in rng.choice(n, size=n_sites, replace=False).tolist():
            j = int(rng.integers(n))
            if j != i and member_ids[j] not in site_of.values():
                site_of[i] = member_ids[j]
                member_ids[i] = member_ids[j]

    comp = [companies[c] for c in member_ids]
    is_partner = np.array([c.partner for c in comp], dtype=bool)
    size = np.array([c.size for c in comp]) * rng.lognormal(0.0, 0.5, size=n)
    if is_partner.any():
        size[is_partner] = 1.5 * size[~is_partner].max()

    # VAT number: exact counts of missing and invalid ones, at random records (not partners).
    status = np.zeros(n, dtype=np.int8)  # 0 valid, 1 invalid, 2 missing
    candidates = np.flatnonzero(~is_partner)
    n_missing = max(1, round(0.06 * n))
    n_invalid = max(1, round(0.05 * n))
    picked = rng.permutation(candidates)[: n_missing + n_invalid]
    status[picked[:n_missing]] = 2
    status[picked[n_missing:]] = 1
    vat_numbers: list[str | None] = []
    vat_keys: list[str | None] = []
    for c, st in zip(comp, status.tolist(), strict=True):
        if st == 0:
            vat_numbers.append(format_vat(rng, c.vat))
            vat_keys.append(c.vat)
        elif st == 1:
            vat_numbers.append(make_invalid_vat(rng, c.vat))
            vat_keys.append(None)
        else:
            vat_numbers.append(None if rng.random() < 0.7 else "")
            vat_keys.append(None)

    names = []
    for i, c in enumerate(comp):
        name = c.name
        if i in site_of:
            name += _SITE_SUFFIXES[int(rng.integers(len(_SITE_SUFFIXES)))]
        if spec.slug == "beta-distribution" and rng.random() < 0.2:
            name = name.upper()  # an ERP that stores names in capitals
        names.append(name)

    # Home territory: one that serves the customer's country (any, when none does).
    territories, territory_branch, territory_countries = [], [], []
    for b, terrs in enumerate(spec.branches.values()):
        for terr, countries in terrs.items():
            territories.append(terr)
            territory_branch.append(b)
            territory_countries.append(countries)
    by_country: dict[str, list[int]] = {}
    for t, countries in enumerate(territory_countries):
        for cc in countries:
            by_country.setdefault(cc, []).append(t)
    partner_terr = [t for t, cs in enumerate(territory_countries) if not cs]
    general = [t for t, cs in enumerate(territory_countries) if cs]
    territory = np.empty(n, dtype=np.int64)
    for i, c in enumerate(comp):
        if is_partner[i] and partner_terr:
            options = partner_terr
        else:
            options = by_country.get(c.country) or general
        territory[i] = options[int(rng.integers(len(options)))]

    # Lifecycle: existing before the window, new during it, churned, stopped before the window.
    start64, end64 = np.datetime64(start), np.datetime64(as_of)
    span = int((end64 - start64).astype(np.int64)) + 1
    r = rng.random(n)
    r[is_partner] = 0.5
    is_new = r < 0.25
    first_seen = start64 - rng.integers(30, 15 * 365, size=n).astype("timedelta64[D]")
    first_seen[is_new] = start64 + rng.integers(0, span - 30, size=int(is_new.sum())).astype(
        "timedelta64[D]"
    )
    last_active = np.full(n, end64 + np.timedelta64(1, "D"))
    churned = (rng.random(n) < 0.2) & ~is_partner
    churn_day = first_seen + rng.integers(90, 3 * 365, size=n).astype("timedelta64[D]")
    last_active[churned] = np.minimum(last_active[churned], churn_day[churned])
    dormant = (rng.random(n) < 0.03) & ~is_new & ~is_partner  # known, but gone before the window
    last_active[dormant] = start64 - rng.integers(1, 400, size=int(dormant.sum())).astype(
        "timedelta64[D]"
    )
    first_seen = np.minimum(first_seen, last_active - np.timedelta64(60, "D"))

    order = np.lexsort((np.arange(n), first_seen))  # customer numbers follow first_seen
    prefix, first_no, width = spec.customer_id
    ids = [f"{prefix}{first_no + k:0{width}d}" for k in range(n)]

    def o(a):
        return a[order]

    def ol(xs):
        return [xs[i] for i in order.tolist()]

    size = o(size)
    median = float(np.median(size))
    return {
        "customer_ids": ids,
        "customer_names": ol(names),
        "vat_numbers": ol(vat_numbers),
        "vat_keys": ol(vat_keys),
        "customer_territory": o(territory),
        "first_seen": o(first_seen),
        "last_active": o(last_active),
        "rate": size**0.75,
        "trend": rng.normal(0.0, 0.25, size=n),
        "amount_factor": (size / median) ** 0.25,
        "discount": np.clip(0.03 + 0.04 * np.log10(size / median), 0.0, 0.3),
        "territories": territories,
        "territory_branch": np.array(territory_branch),
    }


def _reps(rng: Generator, spec: OrgSpec, territories: list[str]):
    """One or two reps per territory, and an inside-sales desk per branch."""
    reps: list[str] = []
    territory_reps: list[list[int]] = []
    used: set[str] = set()

    def person() -> str:
        while True:
            name = (
                f"{_FIRST_NAMES[int(rng.integers(len(_FIRST_NAMES)))]} "
                f"{_LAST_NAMES[int(rng.integers(len(_LAST_NAMES)))]}"
            )
            if name not in used:
                used.add(name)
                return name

    for _ in territories:
        k = 2 if rng.random() < 0.3 else 1
        territory_reps.append([len(reps) + j for j in range(k)])
        reps.extend(person() for _ in range(k))
    inside = []
    for branch in spec.branches:
        inside.append(len(reps))
        reps.append(f"Inside Sales {branch}")
    return reps, territory_reps, np.array(inside)


def _products(rng: Generator, spec: OrgSpec, n_products: int, seed: int) -> dict:
    """The manufacturer's catalogue, or a wholesaler's assortment (part of the manufacturer's
    catalogue under its own article numbers, plus other brands)."""
    catalogue = _manufacturer_catalogue(seed, n_products)
    if spec.kind == "manufacturer":
        items = catalogue
    else:
        n_mfr = min(len(catalogue), round(0.7 * len(catalogue)))
        pick = np.sort(rng.choice(len(catalogue), size=n_mfr, replace=False))
        items = [catalogue[i] for i in pick.tolist()]
        n_other = max(len(spec.other_brands), n_products - len(items))
        cats = list(CATEGORIES)
        brand_cats = {
            b: [cats[i] for i in rng.choice(len(cats), size=int(rng.integers(2, 5)), replace=False)]
            for b in spec.other_brands
        }
        for k in range(n_other):
            brand = spec.other_brands[k % len(spec.other_brands)]
            cat = brand_cats[brand][int(rng.integers(len(brand_cats[brand])))]
            items.append(_item(rng, brand, cat))
        items = [items[i] for i in rng.permutation(len(items)).tolist()]
    prefix, width = spec.product_id
    start = int(rng.integers(1, 10)) * 10 ** (width - 1)
    n = len(items)
    ids = [f"{prefix}{start + 7 * k:0{width}d}" for k in range(n)]
    price = np.array([it[3] for it in items]) * spec.price_factor
    # popularity: Zipf-like over a random order
    popularity = 1.0 / (rng.permutation(n) + 3.0) ** 0.9
    return {
        "product_ids": ids,
        "product_names": [it[0] for it in items],
        "product_brands": [it[1] for it in items],
        "product_categories": [it[2] for it in items],
        "price_cents": np.maximum(np.round(price * 100), 5).astype(np.int64),
        "base_quantity": np.array([it[4] for it in items]) * spec.quantity_factor,
        "product_cum_weight": np.cumsum(popularity) / popularity.sum(),
    }


def _item(rng: Generator, brand: str, category: str) -> tuple[str, str, str, float, float]:
    price, qty, nouns, variants = CATEGORIES[category]
    noun = nouns[int(rng.integers(len(nouns)))]
    variant = variants[int(rng.integers(len(variants)))]
    name = f"{brand} {noun} {variant}".strip()
    return name, brand, category, round(float(price * rng.lognormal(0.0, 0.5)), 2), qty


def _manufacturer_catalogue(seed: int, n_products: int) -> list[tuple[str, str, str, float, float]]:
    rng = _org_rng(seed, len(ORGS), 1)
    n = max(len(MANUFACTURER_BRANDS) * 4, round(0.15 * n_products))
    brands = list(MANUFACTURER_BRANDS)
    out = []
    for k in range(n):
        brand = brands[k % len(brands)]
        cats = MANUFACTURER_BRANDS[brand]
        out.append(_item(rng, brand, cats[int(rng.integers(len(cats)))]))
    return out


def build_world(lines: int, seed: int, as_of: date) -> dict[str, OrgData]:
    """Customers, products and dimensions of every organization."""
    start, _ = window(as_of)
    counts = customer_counts(lines)
    per_org_lines = split_lines(lines)
    companies, members = _companies(seed, counts)
    n_products = product_count(lines)
    world = {}
    for k, org in enumerate(ORGS):
        spec = SPECS[org]
        rng = _org_rng(seed, k, 0)
        cust = _customers(rng, spec, companies, members[org], start, as_of)
        reps, territory_reps, inside = _reps(rng, spec, cust["territories"])
        rep = np.array(
            [
                territory_reps[t][int(rng.integers(len(territory_reps[t])))]
                for t in cust["customer_territory"].tolist()
            ],
            dtype=np.int64,
        )
        prod = _products(rng, spec, n_products, seed)
        world[org] = OrgData(
            spec=spec,
            lines=per_org_lines[org],
            customer_rep=rep,
            branches=list(spec.branches),
            reps=reps,
            inside_sales=inside,
            **cust,
            **prod,
        )
    return world


# --------------------------------------------------------------------------------------------
# Tables.


def _strings(values: list[str | None]) -> pa.Array:
    return pa.array(values, type=pa.string())


def _decimal(units: np.ndarray, scale_from: int) -> pa.Array:
    """An exact ``DECIMAL(18,4)`` array from integers with ``scale_from`` decimals."""
    v = np.ascontiguousarray(units, dtype=np.int64) * 10 ** (_SCALE - scale_from)
    buf = np.empty((len(v), 2), dtype=np.int64)
    buf[:, 0] = v
    buf[:, 1] = v >> 63  # sign extension: two's complement 128-bit, little-endian
    return pa.Array.from_buffers(_AMOUNT, len(v), [None, pa.py_buffer(buf)])


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype("datetime64[D]").astype(np.int64).astype(np.int32)).cast(
        pa.date32()
    )


def customers_table(d: OrgData) -> pa.Table:
    branch = [d.branches[b] for b in d.territory_branch[d.customer_territory].tolist()]
    return pa.table(
        {
            "customer_id": _strings(d.customer_ids),
            "name": _strings(d.customer_names),
            "vat_number": _strings(d.vat_numbers),
            "vat_key": _strings(d.vat_keys),
            "branch": _strings(branch),
            "territory": _strings([d.territories[t] for t in d.customer_territory.tolist()]),
            "sales_rep": _strings([d.reps[r] for r in d.customer_rep.tolist()]),
            "first_seen": _dates(d.first_seen),
        },
        schema=CUSTOMERS_SCHEMA,
    )


def products_table(d: OrgData) -> pa.Table:
    return pa.table(
        {
            "product_id": _strings(d.product_ids),
            "name": _strings(d.product_names),
            "brand": _strings(d.product_brands),
            "category": _strings(d.product_categories),
        },
        schema=PRODUCTS_SCHEMA,
    )


def _day_weights(rng: Generator, days: np.ndarray) -> np.ndarray:
    months = days.astype("datetime64[M]").astype(np.int64) % 12
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    md = days - days.astype("datetime64[M]")
    month_day = md.astype(np.int64) + 1
    holiday = ((months == 11) & np.isin(month_day, (24, 25, 26, 31))) | (
        (months == 0) & (month_day == 1)
    )
    years = (days - days[0]).astype(np.int64) / 365.25
    w = MONTH_FACTOR[months] * WEEKDAY_FACTOR[weekday] * (1 + YEARLY_GROWTH) ** years
    w = w * rng.gamma(25.0, 1 / 25.0, size=len(days))
    w[holiday] = 0.0
    return w


def sales_chunks(
    d: OrgData,
    *,
    seed: int,
    org_index: int,
    as_of: date,
    chunk_lines: int = DEFAULT_CHUNK_LINES,
) -> Iterator[pa.RecordBatch]:
    """The organization's sales lines in date order, ``chunk_lines`` at most per batch."""
    rng = _org_rng(seed, org_index, 1)
    start, end = window(as_of)
    days = np.arange(np.datetime64(start), np.datetime64(end) + np.timedelta64(1, "D"))
    per_day = _apportion(d.lines, _day_weights(rng, days))
    years = (days - days[0]).astype(np.int64) / 365.25

    spec = d.spec
    inv_prefix, cn_prefix, width = spec.documents
    extra = spec.invoice_extra_lines
    mean_invoice, mean_credit = 1.0 + extra, 1.3
    r = CREDIT_NOTE_LINE_SHARE
    p_credit = r * mean_invoice / (mean_credit * (1 - r) + r * mean_invoice)

    customer_ids = _strings(d.customer_ids)
    product_ids = _strings(d.product_ids)
    brands = _strings(d.product_brands)
    branches = _strings(d.branches)
    reps = _strings(d.reps)
    territories = _strings(d.territories)
    home_branch = d.territory_branch[d.customer_territory]
    n_branches = len(d.branches)

    next_invoice, next_credit = 1, 1
    day0 = 0
    while day0 < len(days):
        # a block of whole days with at most chunk_lines lines (at least one day)
        cum = np.cumsum(per_day[day0:])
        day1 = day0 + max(1, int(np.searchsorted(cum, chunk_lines, side="right")))
        counts = per_day[day0:day1]
        total = int(counts.sum())
        if total == 0:
            day0 = day1
            continue
        line_day = np.repeat(np.arange(day0, day1), counts)

        # documents: sizes drawn until they cover the block; the last one is cut to fit
        sizes_parts, credit_parts, covered = [], [], 0
        while covered < total:
            k = int((total - covered) / (mean_invoice * (1 - p_credit) + mean_credit * p_credit))
            k = k + 16
            credit = rng.random(k) < p_credit
            size = np.where(credit, 1 + (rng.random(k) < 0.3), 1 + rng.poisson(extra, size=k))
            sizes_parts.append(size)
            credit_parts.append(credit)
            covered += int(size.sum())
        sizes = np.concatenate(sizes_parts)
        is_credit = np.concatenate(credit_parts)
        ends = np.cumsum(sizes)
        n_docs = int(np.searchsorted(ends, total, side="left")) + 1
        sizes, is_credit, ends = sizes[:n_docs], is_credit[:n_docs], ends[:n_docs]
        sizes[-1] -= ends[-1] - total
        ends[-1] = total
        starts = ends - sizes
        doc_day = line_day[starts]

        # customer of each document: among customers active that day, by rate and trend
        doc_customer = np.empty(n_docs, dtype=np.int64)
        uniq, first_idx, doc_counts = np.unique(doc_day, return_index=True, return_counts=True)
        for day, i0, k in zip(uniq.tolist(), first_idx.tolist(), doc_counts.tolist(), strict=True):
            today = days[day]
            active = (d.first_seen <= today) & (d.last_active >= today)
            w = d.rate * np.exp(d.trend * years[day]) * active
            cw = np.cumsum(w)
            pick = np.searchsorted(cw, rng.random(k) * cw[-1], side="right")
            doc_customer[i0 : i0 + k] = np.minimum(pick, len(w) - 1)

        # document numbers, in date order, invoices and credit notes numbered separately
        inv_seq = next_invoice + np.cumsum(~is_credit) - 1
        cn_seq = next_credit + np.cumsum(is_credit) - 1
        next_invoice += int((~is_credit).sum())
        next_credit += int(is_credit.sum())
        seq = np.where(is_credit, cn_seq, inv_seq)
        seq_str = pc.utf8_lpad(pc.cast(pa.array(seq), pa.string()), width=width, padding="0")
        doc_ids = pc.if_else(
            pa.array(is_credit),
            pc.binary_join_element_wise(cn_prefix, seq_str, ""),
            pc.binary_join_element_wise(inv_prefix, seq_str, ""),
        )

        # lines
        doc_of_line = np.repeat(np.arange(n_docs), sizes)
        line_no = (np.arange(total) - starts[doc_of_line] + 1).astype(np.int32)
        cust = doc_customer[doc_of_line]
        credit_line = is_credit[doc_of_line]
        product = np.searchsorted(d.product_cum_weight, rng.random(total), side="right")
        product = np.minimum(product, len(d.product_ids) - 1)
        qty = np.maximum(
            1,
            np.round(
                d.base_quantity[product] * d.amount_factor[cust] * rng.lognormal(0, 0.6, total)
            ),
        ).astype(np.int64)
        unit = d.price_cents[product] * (1.0 - d.discount[cust])
        correction = credit_line & (rng.random(total) < 0.3)  # price corrections, no goods back
        returned = np.maximum(1, np.round(qty * rng.uniform(0.1, 0.6, total))).astype(np.int64)
        qty = np.where(credit_line, np.where(correction, 0, -returned), qty)
        cents = np.round(qty * unit).astype(np.int64)
        cents = np.where(
            correction,
            -np.maximum(1, np.round(returned * unit * rng.uniform(0.05, 0.2, total))),
            cents,
        ).astype(np.int64)
        cents = np.where(cents == 0, np.where(credit_line, -1, 1), cents)

        branch = home_branch[cust].copy()
        away = rng.random(total) < 0.07
        branch[away] = rng.integers(0, n_branches, size=int(away.sum()))
        rep = d.customer_rep[cust].copy()
        inside = rng.random(total) < 0.04
        rep[inside] = d.inside_sales[branch[inside]]

        yield pa.RecordBatch.from_arrays(
            [
                doc_ids.take(pa.array(doc_of_line)),
                pa.array(line_no, type=pa.int32()),
                _dates(days[line_day[starts][doc_of_line]]),
                customer_ids.take(pa.array(cust)),
                _decimal(cents, 2),
                _decimal(qty, 0),
                product_ids.take(pa.array(product)),
                brands.take(pa.array(product)),
                branches.take(pa.array(branch)),
                reps.take(pa.array(rep)),
                territories.take(pa.array(d.customer_territory[cust])),
            ],
            schema=SALES_SCHEMA,
        )
        day0 = day1


# --------------------------------------------------------------------------------------------
# Writing.


@dataclass(frozen=True)
class OrgFiles:
    """What was written for one organization."""

    org: str
    directory: Path
    customers: int
    products: int
    lines: int
    first_invoice: date | None
    last_invoice: date | None

    def path(self, kind: str) -> Path:
        """``kind`` is ``customers``, ``products`` or ``sales``."""
        return self.directory / FILES[kind]


def generate(
    out_dir: Path,
    *,
    lines: int = DEFAULT_LINES,
    seed: int = DEFAULT_SEED,
    as_of: date | None = None,
    chunk_lines: int = DEFAULT_CHUNK_LINES,
    progress: Callable[[str, float], None] | None = None,
) -> list[OrgFiles]:
    """Write ``out_dir/<org>/{customers,products,sales_lines}.parquet`` for every organization.

    ``lines`` is the total number of sales lines over all organizations. ``progress`` is called
    with a label and the fraction of lines written so far."""
    if lines < 0:
        raise ValueError("lines must not be negative")
    if chunk_lines < 1:
        raise ValueError("chunk_lines must be positive")
    as_of = as_of or date.today()
    world = build_world(lines, seed, as_of)
    written = 0
    result = []
    for k, org in enumerate(ORGS):
        d = world[org]
        directory = Path(out_dir) / org
        directory.mkdir(parents=True, exist_ok=True)
        pq.write_table(customers_table(d), directory / FILES["customers"])
        pq.write_table(products_table(d), directory / FILES["products"])
        first = last = None
        n = 0
        tmp = directory / (FILES["sales"] + ".tmp")
        with pq.ParquetWriter(tmp, SALES_SCHEMA) as writer:
            for batch in sales_chunks(
                d, seed=seed, org_index=k, as_of=as_of, chunk_lines=chunk_lines
            ):
                writer.write_batch(batch)
                dates = batch.column("invoice_date")
                first = first or dates[0].as_py()
                last = dates[len(dates) - 1].as_py()
                n += batch.num_rows
                written += batch.num_rows
                if progress:
                    progress(f"generating {org}", written / max(lines, 1))
        tmp.replace(directory / FILES["sales"])
        result.append(
            OrgFiles(
                org=org,
                directory=directory,
                customers=len(d.customer_ids),
                products=len(d.product_ids),
                lines=n,
                first_invoice=first,
                last_invoice=last,
            )
        )
    return result
