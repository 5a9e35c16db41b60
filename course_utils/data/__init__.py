"""The course dataset (placeholder; see issue 3)."""
