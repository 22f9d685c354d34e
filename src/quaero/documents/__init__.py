"""Documents: pages turned into markdown, stored with full-text search."""

from .models import Document, NewDocument, SearchHit, SearchPage

__all__ = ["Document", "NewDocument", "SearchHit", "SearchPage"]
