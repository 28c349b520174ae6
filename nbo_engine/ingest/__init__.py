"""Input files into the store: schemas, reading, cleaning, resolution, loading."""

from nbo_engine.ingest.load import FileReport, ingest_dir, ingest_file
from nbo_engine.ingest.schemas import ENTITY_ORDER, SCHEMAS, schema_for

__all__ = [
    "ENTITY_ORDER",
    "SCHEMAS",
    "FileReport",
    "ingest_dir",
    "ingest_file",
    "schema_for",
]
