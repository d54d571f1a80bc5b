"""The published tables (CSV, see sources.csv) and the audit that checks them."""
