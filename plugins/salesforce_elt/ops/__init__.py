"""Operating the sync: monitoring, budget and drift guards, preflight, schema tools and the CLI."""
