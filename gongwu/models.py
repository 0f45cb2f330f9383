"""Every table, imported in one place so the metadata is complete for migrations and tests."""

from sqlmodel import SQLModel

from accounts.models import ApiToken, Secret, User
from core.models import AuditLog, Unit
from fleet.models import Flag, Position, RecutRange, Stop, Trip, TripExpense, TripOrder, Vehicle
from ingest.models import FeedDevice, Jt808Terminal
from property.models import (
    AuctionBatch,
    AuctionLot,
    AuctionRound,
    CertificateTarget,
    Lease,
    OfficeProperty,
    OperatingProperty,
    PropertyAlert,
)
from scheduler.models import JobRun, RunLock

metadata = SQLModel.metadata

__all__ = [
    "ApiToken",
    "AuctionBatch",
    "AuctionLot",
    "AuctionRound",
    "AuditLog",
    "CertificateTarget",
    "FeedDevice",
    "Flag",
    "JobRun",
    "Jt808Terminal",
    "Lease",
    "OfficeProperty",
    "OperatingProperty",
    "Position",
    "PropertyAlert",
    "RecutRange",
    "RunLock",
    "Secret",
    "Stop",
    "Trip",
    "TripExpense",
    "TripOrder",
    "Unit",
    "User",
    "Vehicle",
    "metadata",
]
