"""Connection settings for the client tests: the private test cluster that
scripts/test.sh starts (PGHOST is its socket directory, PGPORT its port)."""
import os

import psycopg
import pytest


@pytest.fixture()
def conninfo():
    return f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} user=postgres dbname=ember_clients"


@pytest.fixture(scope="session", autouse=True)
def database():
    admin = f"host={os.environ['PGHOST']} port={os.environ['PGPORT']} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS ember_clients")
        conn.execute("CREATE DATABASE ember_clients")
    with psycopg.connect(admin.replace("dbname=postgres", "dbname=ember_clients"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION ember")
    yield
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE ember_clients")
