"""The study: every adaptation method on one base and one domain, measured side by side, and its report."""
