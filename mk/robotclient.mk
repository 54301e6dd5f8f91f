# The robot client (docs/robotclient.md). Run these beside `make run`, which serves the mesh.
.PHONY: robot-sim robot-video robot-sim-follow

# A simulated robot follows a simulated person through the real mesh; watch http://localhost:9088
robot-sim: install
	$(PY) -m robotclient --source sim --driver sim $(ARGS)

# Play a video file into the mesh: make robot-video VIDEO=clip.mp4
robot-video: install
	@test -n "$(VIDEO)" || { echo "usage: make robot-video VIDEO=path/to/video.mp4"; exit 2; }
	$(PY) -m robotclient --source "$(VIDEO)" --loop true $(ARGS)

# The simulated robot follows Obama by name while Biden, nearer, crosses in front of him (the mesh
# must recognise faces: `make run`); FOLLOW=biden follows the other one.
FOLLOW ?= obama
robot-sim-follow: install recognition-models
	$(PY) -m robotclient --source sim:people --sim-photo-dir $(MODEL_DIR)/face-photos --driver sim \
		--follow $(FOLLOW) --desired-height 0.45 $(ARGS)
