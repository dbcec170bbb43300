"""Models, kept apart by boundary: requests, responses, stored items, domain values."""
