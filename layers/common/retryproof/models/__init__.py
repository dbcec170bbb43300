"""Wire shapes and stored items, one module per domain (request, response and item sections).

Each route imports only its own domain's models: a dataclass costs a cold start ~0.3 ms to create
(README, "Performance")."""


def check_choice(name: str, value: object, allowed: frozenset[str]) -> None:
    """For values a `Literal` restricts, read from a table: refuse anything else."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, not {value!r}")
