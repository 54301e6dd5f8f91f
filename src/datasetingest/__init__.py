"""Dataset ingest: labelled-image zips uploaded over HTTP, checked, stored, announced."""
