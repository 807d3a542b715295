"""The throwaway PostgreSQL server of the model tests: now shared, in tests/postgres.py."""

from tests.postgres import Postgres, bin_dir, postgres

__all__ = ["Postgres", "bin_dir", "postgres"]
