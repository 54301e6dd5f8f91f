"""The simulator: a kinematic chassis, a person walking a path, a camera that renders them."""
