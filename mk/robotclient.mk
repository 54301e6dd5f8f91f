# The robot client (docs/robotclient.md). Run these beside `make run`, which serves the mesh.
.PHONY: robot-sim robot-video

# A simulated robot follows a simulated person through the real mesh; watch http://localhost:9088
robot-sim: install
	$(PY) -m robotclient --source sim --driver sim $(ARGS)

# Play a video file into the mesh: make robot-video VIDEO=clip.mp4
robot-video: install
	@test -n "$(VIDEO)" || { echo "usage: make robot-video VIDEO=path/to/video.mp4"; exit 2; }
	$(PY) -m robotclient --source "$(VIDEO)" --loop true $(ARGS)
