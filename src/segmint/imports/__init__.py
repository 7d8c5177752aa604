"""Import of sales lines, customers and products from CSV, Excel and Parquet files."""
