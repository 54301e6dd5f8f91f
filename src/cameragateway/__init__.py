"""Camera gateway: network cameras (ESP32-CAM convention) through the mesh, a live dashboard, Kafka events."""
