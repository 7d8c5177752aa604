"""The demo data generator: deterministic, canonical, and realistic enough to segment."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from stdnum.eu import vat as eu_vat

from segmint.demo.generator import (
    CUSTOMERS_SCHEMA,
    FILES,
    MANUFACTURER,
    MANUFACTURER_BRANDS,
    ORGS,
    PRODUCTS_SCHEMA,
    SALES_SCHEMA,
    VAT_COUNTRIES,
    WHOLESALERS,
    OrgFiles,
    format_vat,
    generate,
    make_invalid_vat,
    make_vat,
    window,
)
from segmint.imports.vat import vat_key
from segmint.store.schema import CUSTOMERS, PRODUCTS, SALES_LINES

AS_OF = date(2026, 11, 22)
LINES = 40_000
CHUNK = 7_000  # several chunks per organization


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> list[OrgFiles]:
    out = tmp_path_factory.mktemp("demo")
    return generate(out, lines=LINES, seed=7, as_of=AS_OF, chunk_lines=CHUNK)


@pytest.fixture(scope="module")
def con(demo: list[OrgFiles]):
    con = duckdb.connect()
    for f in demo:
        name = f.org.replace("-", "_")
        for kind in ("customers", "products", "sales"):
            con.execute(
                f"CREATE VIEW {name}_{kind} AS SELECT * FROM read_parquet('{f.path(kind)}')"
            )
    yield con
    con.close()


def _v(org: str, kind: str) -> str:
    return f"{org.replace('-', '_')}_{kind}"


def _digest(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*.parquet"))
    }


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", lines=3_000, seed=11, as_of=AS_OF)
    b = generate(tmp_path / "b", lines=3_000, seed=11, as_of=AS_OF)
    c = generate(tmp_path / "c", lines=3_000, seed=12, as_of=AS_OF)
    da, db, dc = _digest(tmp_path / "a"), _digest(tmp_path / "b"), _digest(tmp_path / "c")
    assert len(da) == 3 * len(FILES)
    assert da == db
    assert [(f.org, f.lines, f.customers) for f in a] == [(f.org, f.lines, f.customers) for f in b]
    assert all(da[k] != dc[k] for k in da)
    assert {f.org for f in c} == set(ORGS)


# --- shape -------------------------------------------------------------------------------------


def test_files_have_exactly_the_canonical_columns_and_types(demo: list[OrgFiles]) -> None:
    for f in demo:
        for kind, table, schema in (
            ("sales", SALES_LINES, SALES_SCHEMA),
            ("customers", CUSTOMERS, CUSTOMERS_SCHEMA),
            ("products", PRODUCTS, PRODUCTS_SCHEMA),
        ):
            got = pq.read_schema(f.path(kind))
            assert tuple(got.names) == table.column_names, (f.org, kind)
            assert "org" not in got.names
            assert got.remove_metadata().equals(schema), (f.org, kind, got)
    sales = pq.read_schema(demo[0].path("sales"))
    assert str(sales.field("net_amount").type) == "decimal128(18, 4)"
    assert str(sales.field("invoice_date").type) == "date32[day]"
    assert str(sales.field("line_no").type) == "int32"


def test_exact_line_count_and_bounded_row_groups(demo: list[OrgFiles]) -> None:
    assert sum(f.lines for f in demo) == LINES
    for f in demo:
        meta = pq.ParquetFile(f.path("sales")).metadata
        assert meta.num_rows == f.lines
        assert meta.num_row_groups > 1
        assert max(meta.row_group(i).num_rows for i in range(meta.num_row_groups)) <= CHUNK
        assert pq.ParquetFile(f.path("customers")).metadata.num_rows == f.customers
    by_org = {f.org: f for f in demo}
    for w in WHOLESALERS:  # the manufacturer sells to fewer, bigger customers
        assert by_org[w].customers > 2 * by_org[MANUFACTURER].customers


def test_keys_unique_and_documents_consistent(con, demo: list[OrgFiles]) -> None:
    for f in demo:
        s = _v(f.org, "sales")
        dup = con.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {s} GROUP BY document_id, line_no "
            "HAVING count(*) > 1)"
        ).fetchone()[0]
        assert dup == 0
        # one date and one customer per document; lines numbered 1..n
        bad = con.execute(
            f"""SELECT count(*) FROM (SELECT document_id FROM {s} GROUP BY document_id
                HAVING count(DISTINCT invoice_date) > 1 OR count(DISTINCT customer_id) > 1
                    OR min(line_no) <> 1 OR max(line_no) <> count(*))"""
        ).fetchone()[0]
        assert bad == 0
        n_docs, avg_lines = con.execute(
            f"SELECT count(*), avg(n) FROM (SELECT count(*) AS n FROM {s} GROUP BY document_id)"
        ).fetchone()
        assert 2.5 < avg_lines < 9, "invoices have several lines"
        nulls = con.execute(
            f"SELECT count(*) FROM {s} WHERE document_id IS NULL OR invoice_date IS NULL OR "
            "customer_id IS NULL OR net_amount IS NULL OR product_id IS NULL OR brand IS NULL "
            "OR branch IS NULL OR sales_rep IS NULL OR territory IS NULL"
        ).fetchone()[0]
        assert nulls == 0
        assert n_docs > 0


def test_sales_reference_known_customers_and_products(con, demo: list[OrgFiles]) -> None:
    for f in demo:
        s, c, p = (_v(f.org, k) for k in ("sales", "customers", "products"))
        assert con.execute(
            f"SELECT count(*) FROM {s} ANTI JOIN {c} USING (customer_id)"
        ).fetchone() == (0,)
        assert con.execute(
            f"SELECT count(*) FROM {s} s ANTI JOIN {p} p "
            "ON s.product_id = p.product_id AND s.brand = p.brand"
        ).fetchone() == (0,)
        assert con.execute(
            f"SELECT count(*) - count(DISTINCT customer_id) FROM {c}"
        ).fetchone() == (0,)
        assert con.execute(f"SELECT count(*) - count(DISTINCT product_id) FROM {p}").fetchone() == (
            0,
        )
        # every customer has a home branch, territory and rep
        assert con.execute(
            f"SELECT count(*) FROM {c} WHERE branch IS NULL OR territory IS NULL "
            "OR sales_rep IS NULL OR first_seen IS NULL OR name IS NULL"
        ).fetchone() == (0,)


def test_amounts_have_two_decimals_and_quantities(con, demo: list[OrgFiles]) -> None:
    for f in demo:
        s = _v(f.org, "sales")
        assert con.execute(
            f"SELECT count(*) FROM {s} WHERE net_amount * 100 <> round(net_amount * 100) "
            "OR net_amount = 0 OR quantity <> round(quantity)"
        ).fetchone() == (0,)
        assert con.execute(f"SELECT min(quantity) FROM {s} WHERE net_amount > 0").fetchone()[0] >= 1


# --- realism -----------------------------------------------------------------------------------


def test_about_two_percent_credit_notes_with_their_own_documents(con, demo: list[OrgFiles]):
    for f in demo:
        s = _v(f.org, "sales")
        share, credit_docs, mixed = con.execute(
            f"""SELECT avg((net_amount < 0)::INT),
                       count(DISTINCT document_id) FILTER (WHERE net_amount < 0),
                       (SELECT count(*) FROM (SELECT document_id FROM {s} GROUP BY 1
                        HAVING min(net_amount) < 0 AND max(net_amount) > 0))
                FROM {s}"""
        ).fetchone()
        assert 0.014 <= share <= 0.026, (f.org, share)
        assert credit_docs > 0
        assert mixed == 0, "credit notes are documents of their own"
        # credit notes are numbered apart from invoices
        invoice_prefixes = con.execute(
            f"SELECT DISTINCT regexp_extract(document_id, '^[A-Z-]+') FROM {s} WHERE net_amount > 0"
        ).fetchall()
        credit_prefixes = con.execute(
            f"SELECT DISTINCT regexp_extract(document_id, '^[A-Z-]+') FROM {s} WHERE net_amount < 0"
        ).fetchall()
        assert len(invoice_prefixes) == len(credit_prefixes) == 1
        assert invoice_prefixes != credit_prefixes


def test_three_years_ending_as_of(con, demo: list[OrgFiles]) -> None:
    start, end = window(AS_OF)
    assert start == date(2023, 11, 23) and end == AS_OF
    for f in demo:
        first, last = con.execute(
            f"SELECT min(invoice_date), max(invoice_date) FROM {_v(f.org, 'sales')}"
        ).fetchone()
        assert start <= first <= start + timedelta(days=7), (f.org, first)
        assert AS_OF - timedelta(days=7) <= last <= AS_OF, (f.org, last)
        assert (f.first_invoice, f.last_invoice) == (first, last)
    assert window(date(2024, 2, 29)) == (date(2021, 3, 1), date(2024, 2, 29))


def test_top_fifth_of_customers_hold_most_sales(con, demo: list[OrgFiles]) -> None:
    for f in demo:
        share = con.execute(
            f"""WITH c AS (SELECT customer_id, sum(net_amount) AS v FROM {_v(f.org, "sales")}
                           GROUP BY 1 HAVING v > 0),
                r AS (SELECT v, row_number() OVER (ORDER BY v DESC) AS rn, count(*) OVER () AS n
                      FROM c)
                SELECT sum(v) FILTER (WHERE rn <= n * 0.2) / sum(v) FROM r"""
        ).fetchone()[0]
        assert 0.6 <= share <= 0.9, (f.org, share)


def test_seasonality_and_weekends(con) -> None:
    by_month = dict(
        con.execute(
            "SELECT month(invoice_date), count(*) FROM alpha_wholesale_sales "
            "WHERE invoice_date BETWEEN '2024-01-01' AND '2025-12-31' GROUP BY 1"
        ).fetchall()
    )
    assert by_month[10] > 1.2 * by_month[8]  # busy autumn, quiet August
    sundays = con.execute(
        "SELECT count(*) FROM alpha_wholesale_sales WHERE dayofweek(invoice_date) = 0"
    ).fetchone()[0]
    assert sundays == 0


def test_new_churned_and_dormant_customers(con, demo: list[OrgFiles]) -> None:
    start, _ = window(AS_OF)
    for org in WHOLESALERS:
        c, s = _v(org, "customers"), _v(org, "sales")
        new, churned, dormant, old_active = con.execute(
            f"""WITH last AS (SELECT customer_id, min(invoice_date) AS first_buy,
                                     max(invoice_date) AS last_buy FROM {s} GROUP BY 1)
                SELECT count(*) FILTER (WHERE c.first_seen >= DATE '{start}'
                                         AND l.first_buy >= c.first_seen),
                       count(*) FILTER (WHERE l.last_buy < DATE '{AS_OF}' - INTERVAL 270 DAY
                                         AND l.first_buy < DATE '{start}' + INTERVAL 180 DAY),
                       count(*) FILTER (WHERE l.customer_id IS NULL),
                       count(*) FILTER (WHERE c.first_seen < DATE '{start}'
                                         AND l.last_buy > DATE '{AS_OF}' - INTERVAL 60 DAY)
                FROM {c} c LEFT JOIN last l USING (customer_id)"""
        ).fetchone()
        assert new > 0 and churned > 0 and dormant > 0 and old_active > 0, org
        # nobody buys before becoming a customer
        assert con.execute(
            f"SELECT count(*) FROM {s} JOIN {c} USING (customer_id) WHERE invoice_date < first_seen"
        ).fetchone() == (0,)


def test_wholesalers_sell_the_manufacturers_brands_and_others(con) -> None:
    own = set(MANUFACTURER_BRANDS)
    mfr = {r[0] for r in con.execute("SELECT DISTINCT brand FROM northwind_mfg_sales").fetchall()}
    assert mfr == own
    for org in WHOLESALERS:
        brands = {r[0] for r in con.execute(f"SELECT DISTINCT brand FROM {_v(org, 'sales')}")
                  .fetchall()}  # fmt: skip
        assert own <= brands
        assert len(brands - own) >= 3
        cats = con.execute(f"SELECT count(DISTINCT category) FROM {_v(org, 'products')}").fetchone()
        assert cats[0] >= 5
    # dimensions: several branches, territories and reps per wholesaler
    for org in WHOLESALERS:
        n = con.execute(
            f"SELECT count(DISTINCT branch), count(DISTINCT territory), count(DISTINCT sales_rep) "
            f"FROM {_v(org, 'customers')}"
        ).fetchone()
        assert n[0] >= 4 and n[1] >= 8 and n[2] >= 8, (org, n)


# --- VAT numbers -------------------------------------------------------------------------------


def test_generated_vat_numbers_are_valid_in_every_format() -> None:
    import numpy as np

    rng = np.random.default_rng(1)
    for country in VAT_COUNTRIES:
        for _ in range(300):
            compact = make_vat(rng, country)
            assert eu_vat.is_valid(compact), compact
            assert eu_vat.compact(compact) == compact
            written = format_vat(rng, compact)
            assert eu_vat.is_valid(written), written
            assert vat_key(written) == compact, written
            bad = make_invalid_vat(rng, compact)
            assert not eu_vat.is_valid(bad), bad
            assert vat_key(bad) is None


def test_vat_numbers_mostly_valid_some_invalid_or_missing(con, demo: list[OrgFiles]) -> None:
    for f in demo:
        rows = con.execute(f"SELECT vat_number, vat_key FROM {_v(f.org, 'customers')}").fetchall()
        valid = [(n, k) for n, k in rows if n and eu_vat.is_valid(n)]
        invalid = [n for n, _ in rows if n and not eu_vat.is_valid(n)]
        missing = [n for n, _ in rows if not n]
        assert len(valid) > 0.8 * len(rows), f.org
        assert invalid and missing, f.org
        for number, key in rows:  # the file's vat_key is what the import would compute
            assert key == vat_key(number), (number, key)
        assert {n[:2] for n, _ in valid} & {"de", "nl", "be", "at", "fr"}, "some lower case"
        assert any(" " in n for n, _ in valid), "some with spaces"
        countries = {k[:2] for _, k in valid}
        assert len(countries) >= 4, countries


def test_vat_numbers_shared_across_organizations(con) -> None:
    def keys(org: str) -> set[str]:
        return {
            r[0]
            for r in con.execute(
                f"SELECT vat_key FROM {_v(org, 'customers')} WHERE vat_key IS NOT NULL"
            ).fetchall()
        }

    alpha, beta, mfr = keys("alpha-wholesale"), keys("beta-distribution"), keys(MANUFACTURER)
    assert len(alpha & beta) >= 10
    assert len(alpha & mfr) >= 5 and len(beta & mfr) >= 5
    assert alpha & beta & mfr
    # the wholesalers are customers of the manufacturer
    names = {r[0] for r in con.execute("SELECT name FROM northwind_mfg_customers").fetchall()}
    assert {"Alpha Wholesale GmbH", "Beta Distribution B.V."} <= names
    # some companies have two customer records (sites) with one VAT number
    dup = con.execute(
        "SELECT count(*) FROM (SELECT vat_key FROM alpha_wholesale_customers "
        "WHERE vat_key IS NOT NULL GROUP BY 1 HAVING count(*) > 1)"
    ).fetchone()[0]
    assert dup > 0


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lines"):
        generate(tmp_path, lines=-1, as_of=AS_OF)
    with pytest.raises(ValueError, match="chunk_lines"):
        generate(tmp_path, lines=10, as_of=AS_OF, chunk_lines=0)


def test_zero_lines_still_writes_customers_and_products(tmp_path: Path) -> None:
    files = generate(tmp_path, lines=0, as_of=AS_OF)
    for f in files:
        assert f.lines == 0 and f.first_invoice is None
        assert pq.read_table(f.path("sales")).num_rows == 0
        assert pq.read_table(f.path("customers")).num_rows == f.customers > 0
