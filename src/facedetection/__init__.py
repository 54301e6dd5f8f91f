"""Haar cascade face detection service."""
