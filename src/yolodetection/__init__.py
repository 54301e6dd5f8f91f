"""Darknet YOLO object detection service."""
