"""``segmint abc SOURCE`` and ``segmint rfm SOURCE``: stateless analysis of a sales file.

Options are parsed into the engine's frozen parameter objects here; reading the source and
choosing the engine happen in :mod:`segmint.analysis.sources`. :func:`analyse` takes a ready
frame, so ``store:ORG`` can be wired by passing a relation of the sales store.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.table import Table

from segmint.analysis import sources
from segmint.engine import (
    ParetoParams,
    RfmParams,
    Tier,
    pareto_tiers,
    resolve_period,
    rfm_cut_points,
    rfm_segments,
    segment_summary,
    summary_cards,
)
from segmint.errors import SegmintError, ValidationError

Kind = Literal["abc", "rfm"]


def bad(option: str, message: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=option)


def parse_pairs(option: str, values: list[str], example: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        left, sep, right = value.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise bad(option, f"{value!r}: write {example}")
        pairs.append((left.strip(), right.strip()))
    return pairs


def _number(option: str, text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise bad(option, f"{text!r} is not a number") from None


def parse_tiers(text: str) -> tuple[Tier, ...]:
    """``A=80,B=15,C=5`` -> tiers in that order."""
    pairs = parse_pairs("--tiers", text.split(","), "NAME=PERCENT, e.g. A=80,B=15,C=5")
    return tuple(Tier(name, _number("--tiers", pct)) for name, pct in pairs)


def parse_cuts(text: str) -> dict[str, tuple[Decimal, ...]]:
    """``r=30,60,90,180;f=1,2,3,5`` -> cut points per metric (metrics left out: suggested)."""
    cuts = {}
    for metric, values in parse_pairs("--cuts", text.split(";"), "r=..;f=..;m=.."):
        if metric not in ("r", "f", "m"):
            raise bad("--cuts", f"{metric!r} is not a metric; use r, f or m")
        cuts[f"{metric}_cuts"] = tuple(_number("--cuts", v) for v in values.split(","))
    return cuts


def parse_filters(values: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    pairs = parse_pairs("--filter", values, "COLUMN=V1,V2, e.g. territory=North,South")
    return tuple((column, tuple(v.strip() for v in vals.split(","))) for column, vals in pairs)


def parse_date(text: str | None) -> date:
    if text is None:
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise bad("--as-of", f"{text!r} is not a date like 2026-11-22") from None


def analyse(
    kind: Kind,
    sales: Any,
    params: Any,
    *,
    customers: Any = None,
    output: Path | None = None,
    console: Console | None = None,
) -> None:
    """Compute ``kind`` over ``sales`` (a DuckDB relation or Spark DataFrame), write the
    per-customer result to ``output`` (.csv or .parquet) and print the segment summary."""
    console = console or Console()
    compute = pareto_tiers if kind == "abc" else rfm_segments
    result = compute(sales, params, customers=customers)
    if output is not None:
        order = "rank" if kind == "abc" else "customer_key"
        table = result.sort(order, "customer_key", nulls_last=True).collect().to_arrow()
        if output.suffix.lower() == ".parquet":
            pq.write_table(table, output)
        else:
            pacsv.write_csv(table, output)
    cards = summary_cards(result).collect().rows(named=True)[0]
    summary = segment_summary(result).collect().rows(named=True)
    title = (
        f"{'ABC tiers' if kind == 'abc' else 'RFM segments'} {params.period.start} .. "
        f"{params.period.end}: {cards['active_customers']} active of {cards['customers']} "
        f"customers, total sales {cards['total_sales']}"
    )
    table = Table(title=title)
    columns = ["segment", "customers", "pct_customers", "total_sales", "pct_sales", "avg_sales"]
    if kind == "rfm":
        columns += ["avg_recency_days", "avg_frequency", "avg_monetary"]
    labels = {"avg_recency_days": "avg R days", "avg_frequency": "avg F", "avg_monetary": "avg M"}
    for column in columns:
        table.add_column(
            labels.get(column, column.replace("pct_", "% ").replace("_", " ")),
            justify="left" if column == "segment" else "right",
        )
    for row in summary:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
    console.print(table)
    if kind == "rfm":
        cuts = rfm_cut_points(sales, params, customers=customers).sort("metric", "k").collect()
        by_metric: dict[str, list[str]] = {}
        for metric, _, value in cuts.rows():
            by_metric.setdefault(metric, []).append(
                "" if value is None else f"{value.normalize():f}"
            )
        console.print(
            "cut points: "
            + "; ".join(f"{m}={','.join(by_metric.get(m, []))}" for m in ("r", "f", "m"))
        )
    if output is not None:
        console.print(f"per-customer results written to {output}")


SPARK_ADDRESSES = ("spark://", "sc://", "local", "yarn", "k8s://")


def _run(
    kind: Kind,
    source: str,
    build: Any,
    *,
    map_: list[str] | None,
    customers: Path | None,
    engine: str,
    output: Path | None,
) -> None:
    if engine not in ("duckdb", "spark") and not engine.startswith(SPARK_ADDRESSES):
        raise bad(
            "--engine",
            f"{engine!r}: use duckdb, spark, or a Spark address (spark://HOST:PORT, "
            "sc://HOST:PORT, local[N])",
        )
    master = engine if engine.startswith(SPARK_ADDRESSES) else None
    engine = "spark" if master else engine
    if output is not None and output.suffix.lower() not in (".csv", ".parquet"):
        raise bad("-o", f"{str(output)!r}: write to a .csv or .parquet file")
    mapping = dict(parse_pairs("--map", map_ or [], "SOURCE=CANONICAL"))
    params = build()
    if source.startswith("store:"):
        if engine != "duckdb" or map_ or customers:
            raise bad(
                "SOURCE",
                f"{source!r}: the sales store runs on --engine duckdb, with its own customers "
                "and canonical columns (no --map, no --customers)",
            )
        try:
            with sources.read_store(source.removeprefix("store:")) as (sales, people):
                analyse(kind, sales, params, customers=people, output=output)
        except SegmintError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None
        return
    if params.identity == "vat" and customers is None:
        raise bad("--by", "'vat' needs --customers FILE with customer_id and vat_key columns")
    try:
        if engine == "duckdb":
            import duckdb

            con = duckdb.connect()
            sales = sources.read_duckdb(source, mapping, con)
            people = (
                sources.read_duckdb(str(customers), {}, con, kind="customers")
                if customers
                else None
            )
        else:
            spark = sources.spark_session(master)
            sales = sources.read_spark(source, mapping, spark)
            people = (
                sources.read_spark(str(customers), {}, spark, kind="customers")
                if customers
                else None
            )
        analyse(kind, sales, params, customers=people, output=output)
    except SegmintError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


def _params(kind: Kind, **kw: Any) -> Any:
    try:
        period = resolve_period(
            parse_date(kw.pop("as_of")),
            kw.pop("months"),
            "fixed_year" if kw.pop("fixed_year") else "rolling",
        )
        if kind == "abc":
            return ParetoParams(period=period, **kw)
        return RfmParams(period=period, **kw)
    except ValidationError as error:
        raise bad(
            _OPTION_OF_FIELD.get(error.field or "", "--" + str(error.field)), str(error)
        ) from None


_OPTION_OF_FIELD = {
    "tiers": "--tiers",
    "threshold": "--tiers",
    "default": "--tiers",
    "min_sales": "--min-sales",
    "months": "--months",
    "interval": "--fixed-year",
    "period": "--as-of",
    "identity": "--by",
    "filters": "--filter",
    "r_cuts": "--cuts",
    "f_cuts": "--cuts",
    "m_cuts": "--cuts",
}


AsOf = Annotated[str | None, typer.Option("--as-of", help="Date computed for (default today).")]
Months = Annotated[int, typer.Option("--months", help="Length of the period in months.")]
Fixed = Annotated[bool, typer.Option("--fixed-year", help="Completed calendar years, not rolling.")]
By = Annotated[str, typer.Option("--by", help="Customer identity: id or vat.")]
Filters = Annotated[list[str] | None, typer.Option("--filter", help="COLUMN=V1,V2; repeatable.")]
Maps = Annotated[list[str] | None, typer.Option("--map", help="SOURCE=CANONICAL column name.")]
Customers = Annotated[Path | None, typer.Option("--customers", help="Customers file (vat_key).")]
Engine = Annotated[
    str,
    typer.Option(
        "--engine",
        help="duckdb (default); spark (local, or SPARK_REMOTE); or a Spark master / Spark "
        "Connect address: spark://host:7077, sc://host:15002, local[4].",
    ),
]
Output = Annotated[Path | None, typer.Option("-o", "--output", help="Per-customer .csv/.parquet")]
Source = Annotated[str, typer.Argument(help="CSV or Parquet file or glob of sales lines.")]


def _identity(by: str) -> str:
    if by not in ("id", "vat"):
        raise bad("--by", f"{by!r}: use id or vat")
    return by


def abc_command(
    source: Source,
    as_of: AsOf = None,
    months: Months = 12,
    fixed_year: Fixed = False,
    tiers: Annotated[str, typer.Option(help="NAME=PERCENT,...")] = "A=80,B=15,C=5",
    min_sales: Annotated[str, typer.Option(help="Minimum net sales.")] = "0",
    branch: Annotated[list[str] | None, typer.Option(help="Branch; repeat.")] = None,
    brand: Annotated[list[str] | None, typer.Option(help="Brand; repeat.")] = None,
    by: By = "id",
    filter_: Filters = None,
    map_: Maps = None,
    customers: Customers = None,
    engine: Engine = "duckdb",
    output: Output = None,
) -> None:
    """Pareto (ABC) tiers of every customer in SOURCE."""

    def build() -> ParetoParams:
        return _params(
            "abc",
            as_of=as_of,
            months=months,
            fixed_year=fixed_year,
            tiers=parse_tiers(tiers),
            min_sales=_number("--min-sales", min_sales),
            branches=tuple(branch or ()),
            brands=tuple(brand or ()),
            identity=_identity(by),
            filters=parse_filters(filter_ or []),
        )

    _run("abc", source, build, map_=map_, customers=customers, engine=engine, output=output)


def rfm_command(
    source: Source,
    as_of: AsOf = None,
    months: Months = 12,
    fixed_year: Fixed = False,
    cuts: Annotated[str | None, typer.Option(help="r=..;f=..;m=.. (4 each)")] = None,
    by: By = "id",
    filter_: Filters = None,
    map_: Maps = None,
    customers: Customers = None,
    engine: Engine = "duckdb",
    output: Output = None,
) -> None:
    """RFM scores and segments of every customer in SOURCE."""

    def build() -> RfmParams:
        return _params(
            "rfm",
            as_of=as_of,
            months=months,
            fixed_year=fixed_year,
            identity=_identity(by),
            filters=parse_filters(filter_ or []),
            **(parse_cuts(cuts) if cuts else {}),
        )

    _run("rfm", source, build, map_=map_, customers=customers, engine=engine, output=output)
