"""Classification engine: labels whole frames, or the crops of chosen detections, with a
linear head trained on frozen features of the YOLO backbone (see `modeltrainer`)."""
