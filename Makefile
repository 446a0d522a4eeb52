# sdnet: every target creates the virtualenv first (make setup), so a fresh clone needs only python3.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SDNET := $(VENV)/bin/sdnet
STAMP := $(VENV)/.installed

WORK ?= work
# The dataset of make synth/data/train/eval (pipeline/datasets.py): icvl (the default) or nyu. With
# DATASET=nyu the stages default to NYU's experiment (configs/nyu.json) and to $(WORK)/nyu-*, so the
# outputs of the two never overwrite each other.
DATASET ?= icvl
ifeq ($(DATASET),icvl)
SYNTH_DIR ?= $(WORK)/icvl-synth
DATA_DIR ?= $(WORK)/data
RUN_DIR ?= $(WORK)/run
REPORT_DIR ?= $(WORK)/report
EXPERIMENT ?= configs/default.json
else
SYNTH_DIR ?= $(WORK)/$(DATASET)-synth
DATA_DIR ?= $(WORK)/$(DATASET)-data
RUN_DIR ?= $(WORK)/$(DATASET)-run
REPORT_DIR ?= $(WORK)/$(DATASET)-report
EXPERIMENT ?= configs/$(DATASET).json
endif
# The experiment (configs/*.json): data cut, model, loss, augmentation, schedule and budget, refinement
# and centre refiner; `make data` and `make train` both read it, so they cannot disagree. It names
# its dataset (data.dataset): with DATASET=nyu, give an experiment of NYU's (configs/nyu.json).
# The synthetic tree's seed (the experiment has its own training seed).
SEED ?= 0
# The embedded default: about 20k training frames and two test sequences of ICVL's size.
TRAIN_FRAMES ?= 20000
TEST_FRAMES ?= 1596
# DATASET=nyu: a synthetic NYU tree (subject 1 / subject 2 test split in NYU's proportions) sized so
# that make all DATASET=nyu fits in 30 minutes on 2 cores (NYU's 640x480 frames render at about 17 a
# second there, convert at about 50).
NYU_TRAIN_FRAMES ?= 6000
NYU_TEST_FRAMES ?= 1000
# With ICVL_ROOT (NYU_ROOT for DATASET=nyu) set, `make data` converts that tree instead of the synthetic one.
ICVL_ROOT ?=
NYU_ROOT ?=
BEAM_ARGS ?=

export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: help setup test all synth data train eval screenshot long tune reproduce reproduce-paper reproduce-small bench smoke camera-test camera-eval clean

help:
	@echo "make all      set up, then the whole pipeline on the embedded synthetic default"
	@echo "make test     set up, then the test suite"
	@echo "make setup    create $(VENV) and install requirements.txt and the sdnet package"
	@echo "make synth    render the synthetic ICVL tree into $(SYNTH_DIR)"
	@echo "make data     convert it (or ICVL_ROOT=/path/to/ICVL) into TFRecords in $(DATA_DIR)"
	@echo "DATASET=nyu   make synth/data/train/eval/all on NYU Hand: a synthetic NYU tree of NYU_TRAIN_FRAMES"
	@echo "              + NYU_TEST_FRAMES frames (or NYU_ROOT=/path/to/nyu), configs/nyu.json, outputs in"
	@echo "              $(WORK)/nyu-{synth,data,run,report}; eval adds ../shared/nyu's published results"
	@echo "make train    train EXPERIMENT ($(EXPERIMENT)) on it into $(RUN_DIR), then fit its refinement"
	@echo "make eval     metrics, figures and report of that run in $(REPORT_DIR)"
	@echo "make screenshot  a PNG of $(REPORT_DIR)/report.html rendered by headless Chromium ($(SCREENSHOT))"
	@echo "make long     configs/long.json (50 min of training), scored on the synthetic test split"
	@echo "              and on the real ICVL test poses rendered by sdnet synth --poses"
	@echo "make tune     keras-tuner search over w, alpha, beta and the joint-loss reading (~30 min)"
	@echo "make reproduce  the paper's Table 1 on our data at convergence, 3 seeds (about 80 min, resumable)"
	@echo "make reproduce-paper  Table 1 trained the paper's way (ZF-net, dropout, 16 rotations, no online augmentation), 3 seeds (about 100 min, resumable)"
	@echo "make reproduce-small  baseline vs the calibrated loss on a 2k-frame training set (about 20 min)"
	@echo "make smoke    the whole pipeline shrunk to a couple of minutes, in $(WORK)/smoke"
	@echo "make camera-test  scene test sets: RealSense-style (640x480, 1/8 mm) in $(WORK)/camera-data and"
	@echo "                  a 424x240 camera (f 212, 0.1 mm) in $(CAMERA2_TREE)"
	@echo "make camera-eval  make train's run on them: eval, predict and the hand-centre study of both cameras"
	@echo "make bench    performance figures (JSON)"

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

test: setup
	$(PY) -m pytest -q

all: setup eval
	@echo "make all: done; report in $(REPORT_DIR)/report.html"

# Stage outputs are files: a stage re-runs when its output is missing (`make clean` starts over).
synth: $(SYNTH_DIR)/synth.json

ifeq ($(DATASET),icvl)
SYNTH_ARGS = --train-frames $(TRAIN_FRAMES) --test-frames $(TEST_FRAMES)
ROOT := $(ICVL_ROOT)
else
SYNTH_ARGS = --dataset $(DATASET) --train-frames $(NYU_TRAIN_FRAMES) --test-frames $(NYU_TEST_FRAMES)
ROOT := $(NYU_ROOT)
endif

$(SYNTH_DIR)/synth.json: | $(STAMP)
	$(SDNET) synth --out $(SYNTH_DIR) $(SYNTH_ARGS) --seed $(SEED) --overwrite

ifeq ($(ROOT),)
DATA_SOURCE := $(SYNTH_DIR)
DATA_DEPS := $(SYNTH_DIR)/synth.json
else
DATA_SOURCE := $(ROOT)
DATA_DEPS :=
endif

data: $(DATA_DIR)/manifest.json

$(DATA_DIR)/manifest.json: $(DATA_DEPS) | $(STAMP)
	$(SDNET) data --config $(EXPERIMENT) --root $(DATA_SOURCE) --out $(DATA_DIR) \
		--overwrite --preview $(DATA_DIR)-preview.png $(BEAM_ARGS)

# make train: EXPERIMENT on make data's output; `sdnet train` then fits the refinement on train/val and
# trains the hand-centre refiner, so the run directory holds everything `sdnet predict` needs.
# TRAIN_MINUTES (empty: the experiment's budget) overrides only the budget.
TRAIN_MINUTES ?=
BUDGET = $(if $(TRAIN_MINUTES),--minutes $(TRAIN_MINUTES),)
train: $(RUN_DIR)/model.keras

$(RUN_DIR)/model.keras: $(DATA_DIR)/manifest.json | $(STAMP)
	$(SDNET) train --config $(EXPERIMENT) --data $(DATA_DIR) --out $(RUN_DIR) $(BUDGET) --force

# make eval: the run of make train on make data's test split (refinement on), report in REPORT_DIR.
# With the real ICVL test labels and published result files at hand (PUBLISHED, default ICVL_POSES),
# the report scores those methods and puts them beside ours and the paper's Table 1.
# DATASET=nyu: NYU_PUBLISHED (../shared/nyu: the kit's ground truth and published result files) when there.
NYU_PUBLISHED ?= ../shared/nyu
ifeq ($(DATASET),icvl)
PUBLISHED ?= $(if $(wildcard $(ICVL_POSES)/published/*.txt),$(ICVL_POSES),)
else
PUBLISHED ?= $(if $(wildcard $(NYU_PUBLISHED)/published/*),$(NYU_PUBLISHED),)
endif
EVAL_ARGS = $(if $(PUBLISHED),--published $(PUBLISHED),)
eval: $(REPORT_DIR)/report.html

$(REPORT_DIR)/report.html: $(RUN_DIR)/model.keras | $(STAMP)
	$(SDNET) eval --run $(RUN_DIR) --data $(DATA_DIR) --out $(REPORT_DIR) --overwrite $(EVAL_ARGS)

# make screenshot: the report as a reader sees it, rendered by headless Chromium (Debian's `chromium`
# package; --no-sandbox for root). REPORT_DIR=work/report-long for make long's report.
CHROMIUM ?= chromium
SCREENSHOT ?= docs/report/screenshot.png
SCREENSHOT_SIZE ?= 1280,2400
screenshot:
	@test -f $(REPORT_DIR)/report.html || { echo "no $(REPORT_DIR)/report.html: run make eval first"; exit 1; }
	mkdir -p $(dir $(SCREENSHOT))
	$(CHROMIUM) --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=$(SCREENSHOT_SIZE) \
		--screenshot=$(abspath $(SCREENSHOT)) file://$(abspath $(REPORT_DIR))/report.html
	@# 128 colours, no dithering: the same page at about 40% of the bytes
	$(PY) -c "import sys; from PIL import Image; p = sys.argv[1]; Image.open(p).convert('RGB').quantize(128, dither=Image.Dither.NONE).save(p, optimize=True)" $(SCREENSHOT)

# make long: the documented longer run (configs/long.json: the default experiment, 50 minutes of
# training), evaluated on the synthetic test split and on the real ICVL test poses rendered by
# `sdnet synth --poses`. Its data section is the default's, so it trains on make data's output.
LONG_EXPERIMENT ?= configs/long.json
ICVL_POSES ?= ../shared/icvl
LONG_RUN ?= $(WORK)/run-long
ICVL_POSES_TREE ?= $(WORK)/icvl-poses
ICVL_POSES_DATA ?= $(WORK)/icvl-poses-data
long: $(WORK)/report-long/report.html $(if $(wildcard $(ICVL_POSES)/test_seq_1.txt),$(WORK)/report-long-icvl/report.html,)

$(LONG_RUN)/model.keras: $(DATA_DIR)/manifest.json | $(STAMP)
	$(SDNET) train --config $(LONG_EXPERIMENT) --data $(DATA_DIR) --out $(LONG_RUN) --force

$(WORK)/report-long/report.html: $(LONG_RUN)/model.keras | $(STAMP)
	$(SDNET) eval --run $(LONG_RUN) --data $(DATA_DIR) --out $(WORK)/report-long --overwrite $(EVAL_ARGS)

$(ICVL_POSES_DATA)/manifest.json: | $(STAMP)
	$(SDNET) synth --poses $(ICVL_POSES)/test_seq_1.txt $(ICVL_POSES)/test_seq_2.txt --out $(ICVL_POSES_TREE) --overwrite
	$(SDNET) data --config $(LONG_EXPERIMENT) --root $(ICVL_POSES_TREE) --out $(ICVL_POSES_DATA) --overwrite $(BEAM_ARGS)

$(WORK)/report-long-icvl/report.html: $(LONG_RUN)/model.keras $(ICVL_POSES_DATA)/manifest.json | $(STAMP)
	$(SDNET) eval --run $(LONG_RUN) --data $(ICVL_POSES_DATA) --out $(WORK)/report-long-icvl --overwrite $(EVAL_ARGS)

# make tune: a keras-tuner search over w (log 1e-3..1), alpha, beta and the joint-loss reading, each
# trial EXPERIMENT (make data's, so it trains on make data's output) for TUNE_MINUTES minutes
# (6 trials x 4 minutes, about 30 minutes).
TUNE_DIR ?= $(WORK)/tune
TUNE_TRIALS ?= 6
TUNE_MINUTES ?= 4
tune: $(DATA_DIR)/manifest.json | $(STAMP)
	$(SDNET) tune --config $(EXPERIMENT) --data $(DATA_DIR) --out $(TUNE_DIR) --trials $(TUNE_TRIALS) \
		--minutes-per-trial $(TUNE_MINUTES)

# make reproduce: the paper's Table 1 on our data at convergence (docs/reproduce/README.md): the
# baseline, the paper's w = 0.125, 0.25, 0.5 and the best of REPRODUCE_CANDIDATES (chosen on the
# validation split with the first seed), REPRODUCE_SEEDS seeds each, every run the experiment
# REPRODUCE_EXPERIMENT (configs/table1.json: 5000 steps on 64-px crops) with its setting's loss keys and
# seed, on the default synthetic tree cut as that experiment says (so 17 runs fit in about 80 minutes
# on 2 cores); scored with and without refinement on the synthetic test split, the real ICVL test poses
# rendered by `sdnet synth --poses`, and the same poses behind heavy missing depth and occluders
# (both cut as the experiment says too). Resumable.
REPRODUCE_EXPERIMENT ?= configs/table1.json
REPRODUCE_DIR ?= $(WORK)/reproduce
REPRODUCE_DATA ?= $(WORK)/data64
REPRODUCE_SEEDS ?= 0 1 2
REPRODUCE_WEIGHTS ?= 0 0.125 0.25 0.5
REPRODUCE_CANDIDATES ?= --candidate sdl_weight=0.005 --candidate sdl_weight=0.02 \
	--candidate sdl_weight=0.1,sdl_start=0.7,sdl_ramp=0.1
OCCLUDED_TREE ?= $(WORK)/icvl-occluded
OCCLUDED_DATA ?= $(WORK)/data64-icvl-occluded
HAVE_ICVL := $(wildcard $(ICVL_POSES)/test_seq_1.txt)
REPRODUCE_TESTS = $(if $(HAVE_ICVL),--icvl-poses $(ICVL_POSES) --extra-test icvl_occluded=$(OCCLUDED_DATA),)

$(REPRODUCE_DATA)/manifest.json: $(DATA_DEPS) | $(STAMP)
	$(SDNET) data --config $(REPRODUCE_EXPERIMENT) --root $(DATA_SOURCE) --out $(REPRODUCE_DATA) \
		--overwrite $(BEAM_ARGS)

$(OCCLUDED_DATA)/manifest.json: | $(STAMP)
	$(SDNET) synth --poses $(ICVL_POSES)/test_seq_1.txt $(ICVL_POSES)/test_seq_2.txt --sensor-profile occluded \
		--out $(OCCLUDED_TREE) --overwrite
	$(SDNET) data --config $(REPRODUCE_EXPERIMENT) --root $(OCCLUDED_TREE) --out $(OCCLUDED_DATA) \
		--overwrite $(BEAM_ARGS)

reproduce: $(REPRODUCE_DATA)/manifest.json $(if $(HAVE_ICVL),$(OCCLUDED_DATA)/manifest.json,) | $(STAMP)
	$(SDNET) reproduce --config $(REPRODUCE_EXPERIMENT) --data $(REPRODUCE_DATA) --out $(REPRODUCE_DIR) \
		--seeds $(REPRODUCE_SEEDS) --weights $(REPRODUCE_WEIGHTS) $(REPRODUCE_CANDIDATES) \
		$(REPRODUCE_TESTS) $(BEAM_ARGS)

# make reproduce-paper: Table 1 in the paper's own training setting (configs/table1-paper.json: the
# paper's ZF-net with dropout 0.5 on 64-px crops, 16 materialized rotations, no online augmentation,
# float32, the distance reading of Eq. 1): the baseline and the paper's w = 0.125, 0.25, 0.5, 3 seeds
# each, on the first PAPER_TRAIN_FRAMES frames of the default tree (same test sequences), scored like
# make reproduce. About 100 minutes on 2 cores, resumable.
PAPER_EXPERIMENT ?= configs/table1-paper.json
PAPER_TRAIN_FRAMES ?= 4000
PAPER_TREE ?= $(WORK)/synth-paper
PAPER_DATA ?= $(WORK)/data64-paper
PAPER_DIR ?= $(WORK)/reproduce-paper

$(PAPER_TREE)/synth.json: | $(STAMP)
	$(SDNET) synth --out $(PAPER_TREE) --train-frames $(PAPER_TRAIN_FRAMES) --test-frames $(TEST_FRAMES) \
		--seed $(SEED) --overwrite

$(PAPER_DATA)/manifest.json: $(PAPER_TREE)/synth.json | $(STAMP)
	$(SDNET) data --config $(PAPER_EXPERIMENT) --root $(PAPER_TREE) --out $(PAPER_DATA) \
		--overwrite $(BEAM_ARGS)

reproduce-paper: $(PAPER_DATA)/manifest.json $(if $(HAVE_ICVL),$(OCCLUDED_DATA)/manifest.json,) | $(STAMP)
	$(SDNET) reproduce --config $(PAPER_EXPERIMENT) --data $(PAPER_DATA) --out $(PAPER_DIR) \
		--seeds $(REPRODUCE_SEEDS) --weights $(REPRODUCE_WEIGHTS) $(REPRODUCE_TESTS) $(BEAM_ARGS)

# make reproduce-small: where the paper says the loss helps most, a small training set: the first
# SMALL_TRAIN_FRAMES frames of the default tree (same test sequences), the baseline and
# the setting make reproduce chose on validation (SMALL_SETTINGS), 3 seeds, make reproduce's experiment
# with SMALL_STEPS steps; scored like make reproduce (the occluded ICVL poses included). About 20 minutes.
SMALL_TRAIN_FRAMES ?= 2000
SMALL_TREE ?= $(WORK)/synth-small
SMALL_DATA ?= $(WORK)/data64-small
SMALL_DIR ?= $(WORK)/reproduce-small
SMALL_STEPS ?= 3000
SMALL_SETTINGS ?= --weights 0 --setting sdl_weight=0.1,sdl_start=0.7,sdl_ramp=0.1

$(SMALL_TREE)/synth.json: | $(STAMP)
	$(SDNET) synth --out $(SMALL_TREE) --train-frames $(SMALL_TRAIN_FRAMES) --test-frames $(TEST_FRAMES) \
		--seed $(SEED) --overwrite

$(SMALL_DATA)/manifest.json: $(SMALL_TREE)/synth.json | $(STAMP)
	$(SDNET) data --config $(REPRODUCE_EXPERIMENT) --root $(SMALL_TREE) --out $(SMALL_DATA) \
		--overwrite $(BEAM_ARGS)

reproduce-small: $(SMALL_DATA)/manifest.json $(if $(HAVE_ICVL),$(OCCLUDED_DATA)/manifest.json,) | $(STAMP)
	$(SDNET) reproduce --config $(REPRODUCE_EXPERIMENT) --set steps=$(SMALL_STEPS) --data $(SMALL_DATA) \
		--out $(SMALL_DIR) --seeds $(REPRODUCE_SEEDS) $(SMALL_SETTINGS) $(REPRODUCE_TESTS) $(BEAM_ARGS)

# make camera-test: a test set from another camera: RealSense-style 640x480 PNGs in
# 1/8-mm units, structured-light sensor, every frame a scene (forearm out of the image, torso and
# clutter behind the hand at 250-900 mm), converted with that camera. About 1-2 minutes on 2 cores.
CAMERA_TREE ?= $(WORK)/camera-synth
CAMERA_DATA ?= $(WORK)/camera-data
CAMERA_TEST_FRAMES ?= 400

# A second scene test set from a camera no training tree uses: 424x240, f 212 px, 0.1-mm units
# (the localizer and the pose network have seen neither its resolution nor its focal length).
CAMERA2_TREE ?= $(WORK)/camera2-synth
CAMERA2 = --camera realsense --width 424 --height 240 --fx 212 --fy 212 --cx 211.5 --cy 119.5 --depth-scale 0.1

camera-test: $(CAMERA_DATA)/manifest.json $(CAMERA2_TREE)/synth.json

$(CAMERA_TREE)/synth.json: | $(STAMP)
	$(SDNET) synth --out $(CAMERA_TREE) --camera realsense --sensor-profile structured --train-frames 0 \
		--test-frames $(CAMERA_TEST_FRAMES) --test-scene-fraction 1 --seed 1 --overwrite

$(CAMERA_DATA)/manifest.json: $(CAMERA_TREE)/synth.json | $(STAMP)
	$(SDNET) data --config $(EXPERIMENT) --root $(CAMERA_TREE) --camera realsense \
		--out $(CAMERA_DATA) --overwrite $(BEAM_ARGS)

$(CAMERA2_TREE)/synth.json: | $(STAMP)
	$(SDNET) synth --out $(CAMERA2_TREE) $(CAMERA2) --sensor-profile structured --train-frames 0 \
		--test-frames $(CAMERA_TEST_FRAMES) --test-scene-fraction 1 --seed 2 --overwrite

# make camera-eval: make train's run on that test set, as `sdnet eval` scores it (crops cut at data time
# by the centre rule) and as `sdnet predict` sees the raw frames (the learned centre refinement on),
# then the hand-centre study (docs/camera/centre_study.py). A few minutes after make camera-test.
camera-eval: $(CAMERA_DATA)/manifest.json $(CAMERA2_TREE)/synth.json $(RUN_DIR)/model.keras | $(STAMP)
	$(SDNET) eval --run $(RUN_DIR) --data $(CAMERA_DATA) --out $(WORK)/camera-report --overwrite
	$(SDNET) predict --run $(RUN_DIR) $(CAMERA_TREE) --camera realsense --split test --out $(WORK)/camera-pred \
		--overwrite
	$(PY) docs/camera/centre_study.py --tree $(CAMERA_TREE) --run $(RUN_DIR) --out $(WORK)/camera-study --name realsense
	$(PY) docs/camera/centre_study.py --tree $(CAMERA2_TREE) --run $(RUN_DIR) --out $(WORK)/camera-study --name 424x240

# make smoke: the whole pipeline shrunk (tiny tree, configs/smoke.json), a minute or two end to end.
smoke: setup
	$(MAKE) all WORK=$(WORK)/smoke TRAIN_FRAMES=600 TEST_FRAMES=120 EXPERIMENT=configs/smoke.json

bench: setup
	$(SDNET) bench --json $(WORK)/bench.json

clean:
	rm -rf $(WORK)
