"""Operators: extract (Salesforce -> staged CSV files) and the warehouse-side transform/load steps."""
