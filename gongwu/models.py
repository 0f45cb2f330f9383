"""Every table, imported in one place so the metadata is complete for migrations and tests."""

from sqlmodel import SQLModel

# Importing a models module registers its tables on SQLModel.metadata.
from accounts import models as accounts_models
from core import models as core_models
from fleet import models as fleet_models
from ingest import models as ingest_models
from property import models as property_models
from scheduler import models as scheduler_models

metadata = SQLModel.metadata

__all__ = [
    "accounts_models",
    "core_models",
    "fleet_models",
    "ingest_models",
    "metadata",
    "property_models",
    "scheduler_models",
]
