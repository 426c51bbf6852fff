"""SQLAlchemy 2 ORM: a user-defined `embedding(3)` column type, inserts,
reads, and ORDER BY the `<->` operator."""
import psycopg
import pytest
from sqlalchemy import Float, Integer, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import UserDefinedType


class Embedding(UserDefinedType):
    cache_ok = True

    def __init__(self, dim=None):
        self.dim = dim

    def get_col_spec(self, **kw):
        return "embedding" if self.dim is None else f"embedding({self.dim})"

    def bind_processor(self, dialect):
        return lambda v: None if v is None else "[" + ",".join(repr(float(x)) for x in v) + "]"

    def result_processor(self, dialect, coltype):
        return lambda v: None if v is None else [float(x) for x in v.strip("[]").split(",")]

    class comparator_factory(UserDefinedType.Comparator):
        def l2_distance(self, other):
            return self.op("<->", return_type=Float)(other)

        def cosine_distance(self, other):
            return self.op("<=>", return_type=Float)(other)


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "orm_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    v = mapped_column(Embedding(3))


def test_orm_round_trip_and_nearest(conninfo):
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(conninfo))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Item(id=1, v=[1, 0, 0]), Item(id=2, v=[0, 1, 0]), Item(id=3, v=[0.9, 0.1, 0]), Item(id=4, v=None)])
        session.commit()
        assert session.get(Item, 3).v == pytest.approx([0.9, 0.1, 0.0])
        assert session.get(Item, 4).v is None
        query = select(Item.id).where(Item.v.is_not(None)).order_by(Item.v.l2_distance([1, 0, 0])).limit(2)
        assert session.scalars(query).all() == [1, 3]
        query = select(Item.id).order_by(Item.v.cosine_distance([0, 1, 0])).limit(1)
        assert session.scalars(query).all() == [2]
    engine.dispose()
