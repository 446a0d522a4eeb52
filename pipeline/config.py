"""Configuration: frozen dataclasses, parsed once at the CLI and passed down explicitly.

An *experiment* is one ``TrainConfig``: the data cut (``DataConfig``: crop, cube, rotations, centre
rule), the model, the loss, the online augmentation, the run's length and optimizer, the refinement fit
and the centre refiner. Its dataclass defaults *are* the default experiment (``make all``'s);
``configs/*.json`` hold the other experiments as the keys they change (``pipeline.experiment`` reads
them, applies ``--set key=value`` overrides and writes the resolved ``RUN/config.json``, itself an
experiment file). Nothing else states a default: the CLI's flags and help take theirs from here.

``from_dict`` rejects unknown keys and values of the wrong type, naming the dotted key. Choice lists
(``PRESETS``, ``PENALTIES``, ...) are defined once here and used by the checks and the CLI.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Type, TypeVar

from pipeline.camera import CAMERAS, Intrinsics
from pipeline.datasets import DATASETS
from pipeline.synth.profiles import SENSOR_PROFILES

T = TypeVar("T")


def to_dict(cfg) -> dict:
    """A JSON-friendly dict of a (nested) config dataclass."""
    return dataclasses.asdict(cfg)


def from_dict(cls: Type[T], d: dict[str, Any], where: str = "config") -> T:
    """Build ``cls`` from ``d`` (e.g. parsed JSON), checking every value against the field's type.

    Unknown keys and values of the wrong type raise ValueError naming ``where`` and the dotted key.
    Types: a bool is not a number; an int is accepted for a float (and becomes one); a tuple field
    takes a list; ``X | None`` takes null; nested dataclasses are rebuilt from dicts. Missing keys
    take the field's default.
    """
    if isinstance(d, cls):
        return d
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected an object of {cls.__name__} fields, got {_describe(d)}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)} for {cls.__name__}")
    hints = typing.get_type_hints(cls)
    kwargs = {key: _typed(hints[key], value, f"{where}.{key}") for key, value in d.items()}
    return cls(**kwargs)


def _describe(value) -> str:
    return "null" if value is None else f"{value!r} ({type(value).__name__})"


_TYPE_WORDS = {float: "a number", int: "an integer", bool: "true or false", str: "a string",
               dict: "an object", type(None): "null"}


def _type_word(tp) -> str:
    if dataclasses.is_dataclass(tp):
        return f"an object of {tp.__name__} fields"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_word(a) for a in typing.get_args(tp))
    if tp is tuple or origin is tuple:
        return "a list"
    if origin is dict:
        return "an object"
    return _TYPE_WORDS.get(tp, getattr(tp, "__name__", str(tp)))


def _typed(tp, value, where: str):
    """``value`` checked against (and converted to) the annotation ``tp``; ValueError otherwise."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arm in (a for a in args if a is not type(None)):
            try:
                return _typed(arm, value, where)
            except ValueError:
                continue
    elif dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    elif tp is tuple or origin is tuple:
        if isinstance(value, (list, tuple)):
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(_typed(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
            if args and len(args) != len(value):
                raise ValueError(f"{where}: expected {len(args)} values, got {len(value)}")
            return tuple(_typed(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value))) \
                if args else tuple(value)
    elif tp is dict or origin is dict:
        if isinstance(value, dict):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(tp, type):
        if isinstance(value, tp):
            return value
    else:
        return value
    raise ValueError(f"{where}: expected {_type_word(tp)}, got {_describe(value)}")


class ConfigError(ValueError):
    """A config value refused by its dataclass's checks; ``fields`` names the fields at fault (so a
    command can name its own option for them: behaviour from values, never from the message)."""

    def __init__(self, message: str, fields: tuple[str, ...] = ()):
        super().__init__(message)
        self.fields = tuple(fields)


def _check(checks: list[tuple]) -> None:
    """Raise ConfigError with the message of the first failed check: (ok, message) or (ok, message,
    fields at fault)."""
    for ok, msg, *fields in checks:
        if not ok:
            raise ConfigError(msg, tuple(fields[0]) if fields else ())


def opt(default, help: str, choices: tuple | None = None, flag: str | None = None):
    """A dataclass field with its help text (and choices), from which the CLI generates its
    shorthand flag (``pipeline.experiment.add_shorthands``); ``flag`` names the flag when it is not the
    field's name with dashes."""
    meta = {"help": help, "choices": choices, "flag": flag}
    if isinstance(default, (list, dict, set)):
        raise TypeError("opt: mutable defaults need a default_factory")
    return dataclasses.field(default=default, metadata=meta)


# ----------------------------------------------------------------------------- data conversion


# Choice lists, defined once (the checks and the CLI's choices use them).
CENTRE_METHODS = ("blob", "com", "learned")
PENALTIES = ("step", "hinge")
JOINT_LOSSES = ("squared", "distance")
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
STRATEGIES = ("auto", "default", "mirrored", "multiworker")
PRIOR_MODES = ("pdf", "neglogpdf")
TEMPORAL_MODES = ("displacement", "distance")
# The Beam DirectRunner's running modes (``sdnet synth --running-mode``, ``build_synth.BeamOptions``).
RUNNING_MODES = ("multi_processing", "multi_threading", "in_memory")
# The datasets of the registry (``pipeline.datasets``): ``DataConfig.dataset``, the default first; and
# the tree formats ``sdnet synth`` writes (``--dataset``): the generator draws 16 ICVL joints (and NYU's
# from them), not yet the 21-joint hands of MSRA and HANDS 2017.
DATASET_NAMES = tuple(DATASETS)
SYNTH_DATASETS = ("icvl", "nyu")


@dataclasses.dataclass(frozen=True)
class CentreConfig:
    """How the hand centre is found, without labels (train and test use the same rule).

    The hand is taken to be the nearest object: valid pixels (not 0/32001) with depth in
    [min_depth_mm, max_depth_mm]; the near edge is the ``near_percentile`` of their depths (robust to
    a few noisy pixels); pixels within ``band_mm`` behind the near edge are the candidates.

    ``method`` 'com' (the original rule): the centre of mass of the candidates, then ``refine_iters``
    times the centre of mass of all valid pixels inside the cube (in 3-D) around the last centre.
    ``method`` 'blob' (for real scenes: forearm, body and clutter in view): the candidates are split
    into blobs where neighbouring pixels differ by more than ``step_mm`` in depth; the blob holding
    the nearest pixels is the hand. When it runs out of the image (a forearm) and is longer than
    ``hand_extent_mm``, only its points within ``hand_extent_mm`` (3-D) of its far end (the point
    farthest from where it leaves the image) are kept; the centre of mass of those, then
    ``refine_iters`` times the centre of mass of the kept points inside the cube, is the centre.
    At least ``min_pixels`` pixels are needed.
    ``method`` 'learned' (for frames where something else is nearer than the hand): the learned
    full-frame localizer in the directory ``locator`` (``sdnet fit-locator``; ``pipeline.locator``) finds
    the hand's palm joint, then ``refine_iters`` times the centre of mass of the valid pixels inside the
    cube about it (``geometry.centre_near``); a frame whose localizer confidence is below its threshold
    has no hand.
    """

    min_depth_mm: float = 100.0
    max_depth_mm: float = 1500.0
    near_percentile: float = 0.5
    band_mm: float = opt(150.0, "depth band (mm) behind the nearest hand pixel used for the hand centre",
                         flag="band")
    refine_iters: int = 2
    min_pixels: int = 50
    method: str = opt("blob", "hand centre: blob (the nearest depth blob, forearm cut off; for scenes with "
                      "arm, body and clutter), com (centre of mass of the depth band, the original rule) or "
                      "learned (the localizer in --locator DIR, `sdnet fit-locator`)",
                      choices=CENTRE_METHODS, flag="centre-method")
    step_mm: float = 60.0
    hand_extent_mm: float = 220.0
    locator: str = opt("", "directory of the learned localizer (locator.keras, `sdnet fit-locator`) for "
                       "centre method learned", flag="locator")

    def __post_init__(self) -> None:
        _check([(self.method in CENTRE_METHODS, f"centre method must be one of {', '.join(CENTRE_METHODS)}, "
                 f"got {self.method!r}"),
                (self.method != "learned" or bool(self.locator),
                 "centre method learned needs the localizer's directory (--locator DIR, `sdnet fit-locator`)"),
                (self.step_mm > 0, f"centre step_mm must be > 0, got {self.step_mm}"),
                (self.hand_extent_mm >= 0, f"centre hand_extent_mm must be >= 0, got {self.hand_extent_mm}")])


# With a single training sequence, this share of its frames (at least one), at its end, is 'val'.
SINGLE_SEQUENCE_VAL_SHARE = 0.1


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """``sdnet data``: a labelled tree -> TFRecords (the ``data`` section of an experiment).

    dataset: the registry name of the tree's dataset (``pipeline.datasets``: layout, label reader,
    skeleton, camera). crop_size: crop side in pixels (the model's input size). cube_mm: side of the
    3-D crop cube in mm (training and val; test frames of a dataset with per-subject cubes, NYU's
    300 / 250 mm, use those).
    rotations: K in-plane copies of each training frame, every 360/K degrees, the unrotated one
    included (1: the originals only; training rotates online, ``AugmentConfig``). scale_jitter:
    training crops use a cube of cube_mm * U(1 - s, 1 + s). centre_jitter_mm: std of a Gaussian
    offset (mm, per axis) of the training crop centre. val_fraction: share of training sequences held
    out whole as 'val' (0: no 'val'); when there is a single training sequence, its last
    ``SINGLE_SEQUENCE_VAL_SHARE`` of frames (at least one) are 'val' instead. skip_prerotated: drop
    ICVL's pre-rotated training copies (folders whose name is short, see
    ``pipeline.icvl.is_prerotated_folder``). max_reject_fraction: the job fails when more frames
    than this share are rejected (default 0.2: the default synthetic tree's scene frames where a
    nearer arm, body part, edge or the other hand takes the rule's crop, about 12% of its frames, are
    rejected and listed; a wrong depth unit or camera rejects nearly all). max_joint_extent: training
    frames with a joint farther than this many half-cubes from the hand centre (normalized
    coordinate) are rejected: the centre missed the hand. Never applied to val/test frames. shards: TFRecord shards for 'train' (0 = about 2000
    records per shard). seed: of the scale and centre jitter. test_subject: the held-out subject of a
    dataset evaluated leave one subject out (its ``fold_subjects``, MSRA's P0..P8: required there, its
    frames are 'test' with its cube, the other subjects' 'train'); "" for the other datasets (their own
    test split). The manifest records it, so runs and reports of different folds are told apart.
    """

    dataset: str = opt("icvl", "the dataset of the tree (pipeline.datasets): its layout, label reader, skeleton and "
                       "camera", choices=DATASET_NAMES)
    crop_size: int = opt(128, "crop side in pixels (the model's input size; paper preset: 224)", flag="crop")
    cube_mm: float = opt(250.0, "side of the 3-D crop cube in mm", flag="cube")
    rotations: int = opt(1, "in-plane copies of each training frame, every 360/K degrees (1: originals only; "
                         "the paper's ICVL setting: 16)")
    scale_jitter: float = opt(0.0, "training cube scaled by U(1-s, 1+s), e.g. 0.1")
    centre_jitter_mm: float = opt(0.0, "std (mm) of a random offset of the training crop centre, e.g. 8",
                                  flag="centre-jitter")
    val_fraction: float = opt(0.05, "share of training sequences held out whole for validation (0: none); "
                              "with a single training sequence, its last "
                              f"{100 * SINGLE_SEQUENCE_VAL_SHARE:.0f}% of frames are held out instead")
    skip_prerotated: bool = opt(False, "drop ICVL's pre-rotated training copies (non-timestamp folders)")
    max_reject_fraction: float = opt(0.2, "fail when more than this share of frames is rejected",
                                     flag="max-reject")
    max_joint_extent: float = 1.5
    shards: int = opt(0, "train shards (0: about 2000 records each)")
    seed: int = opt(0, "seed of the scale/centre jitter")
    test_subject: str = opt("", "the held-out test subject of a leave-one-subject-out dataset (required there: "
                            + "; ".join(f"{d.name} {d.fold_subjects[0]}..{d.fold_subjects[-1]}"
                                        for d in DATASETS.values() if d.fold_subjects)
                            + "); its frames are the test split, cropped with its cube; empty for datasets with "
                            "their own test split")
    centre: CentreConfig = CentreConfig()

    def __post_init__(self) -> None:
        folds = DATASETS[self.dataset].fold_subjects if self.dataset in DATASETS else ()
        checks = [
            (self.dataset in DATASET_NAMES, f"dataset must be one of {', '.join(DATASET_NAMES)}, got {self.dataset!r}"),
            (self.crop_size >= 16, f"crop size must be >= 16 px, got {self.crop_size}"),
            (self.cube_mm > 0, f"cube must be > 0 mm, got {self.cube_mm}"),
            (self.rotations >= 1, f"rotations must be >= 1, got {self.rotations}"),
            (0 <= self.scale_jitter < 1, f"scale jitter must be in [0, 1), got {self.scale_jitter}"),
            (self.centre_jitter_mm >= 0, "centre jitter must be >= 0 mm"),
            (0 <= self.val_fraction < 1, f"val fraction must be in [0, 1), got {self.val_fraction}"),
            (0 <= self.max_reject_fraction <= 1, "max reject fraction must be in [0, 1]"),
            (self.max_joint_extent > 0, "max joint extent must be > 0"),
            (self.shards >= 0, "shards must be >= 0"),
            (bool(self.test_subject) or not folds, f"dataset {self.dataset} is tested leave one subject out: "
             f"test_subject is required (one of {', '.join(folds)})", ("test_subject",)),
            (not self.test_subject or self.test_subject in folds,
             f"test_subject must be one of {', '.join(folds)} for dataset {self.dataset}, got {self.test_subject!r}"
             if folds else f"test_subject does not apply to dataset {self.dataset} (it has its own test split), "
             f"got {self.test_subject!r}", ("test_subject",)),
        ]
        _check(checks)


# DataConfig fields that change no record (only the files' layout or the job's tolerance): a run's
# data section and its data's manifest may differ in these.
DATA_LAYOUT_FIELDS = ("shards", "max_reject_fraction")


# ----------------------------------------------------------------------------- refinement


@dataclasses.dataclass(frozen=True)
class RefineConfig:
    """Hierarchical refinement (``models.refine``, paper Eq. 8-12). Lengths in mm, window in pixels.

    radius_mm: a joint never moves farther than this from its CNN estimate (search ball).
    grid_half: k; each search round tries a (2k+1)^3 grid inside the ball. rounds: shrinking rounds
    (each round's grid spans the previous round's step, centred on its best point).
    window: w; phi_D counts background pixels in a (2w+1)^2 window (Eq. 10). Pushing a joint to a
    finger's centre line needs a window about as wide as a finger (ICVL: ~15 mm, ~10 px at 350 mm);
    a narrower one only keeps the joint w px inside the outline.
    gamma_d: weight of phi_D per background pixel (penalty_D folded in). gamma_m: weight of the
    temporal step term phi_M (penalty_M folded in). gamma_a: anchor term ``gamma_a (d / radius)^2``
    keeping a joint near its CNN estimate (d = distance to it). The defaults suit prior_mode 'pdf'
    (phi_G in 1/mm, ~0.1-0.2 at best); for 'neglogpdf' divide them by ~0.15, or better choose all
    weights on validation data (``models.refine_search.choose_refine_params``).
    prior_mode: 'pdf' (phi_G = -pdf, Eq. 9) or 'neglogpdf'. temporal_mode: 'displacement' or
    'distance' (readings of Eq. 11-12, see ``models.refine``). palm_bone_term: the palm (no parent)
    gets the mean bone energy of its bones to the CNN-estimated finger roots.
    """

    radius_mm: float = 8.0
    grid_half: int = 2
    rounds: int = 3
    window: int = 4
    gamma_d: float = 0.004
    gamma_m: float = 0.05
    gamma_a: float = 0.02
    prior_mode: str = "pdf"
    temporal_mode: str = "displacement"
    palm_bone_term: bool = True

    def __post_init__(self) -> None:
        checks = [
            (self.radius_mm > 0, f"refine radius must be > 0 mm, got {self.radius_mm}"),
            (self.grid_half >= 1, f"refine grid_half must be >= 1, got {self.grid_half}"),
            (self.rounds >= 1, f"refine rounds must be >= 1, got {self.rounds}"),
            (self.window >= 0, f"refine window must be >= 0 px, got {self.window}"),
            (min(self.gamma_d, self.gamma_m, self.gamma_a) >= 0, "refine weights must be >= 0"),
            (self.prior_mode in PRIOR_MODES,
             f"refine prior_mode must be one of {', '.join(PRIOR_MODES)}, got {self.prior_mode!r}"),
            (self.temporal_mode in TEMPORAL_MODES,
             f"refine temporal_mode must be one of {', '.join(TEMPORAL_MODES)}, got {self.temporal_mode!r}"),
        ]
        _check(checks)


@dataclasses.dataclass(frozen=True)
class RefineFitConfig:
    """How a run's refinement is fitted after training (``pipeline.fit_refine``; the ``refine`` section).

    fit: fit it at the end of ``sdnet train`` (``sdnet fit-refine`` refits). The bone prior is fitted
    on at most ``max_fit_poses`` training poses; the RefineConfig of lowest mean error on the first
    ``val_frames`` validation frames is chosen from every combination of the grid below (search
    radius mm, background weight, temporal weight, window px; the other RefineConfig fields keep
    their defaults). About 1-2 ms per frame and cell.
    """

    fit: bool = opt(True, "fit the refinement (prior.json, refine.json) when training ends", flag="fit-refine")
    val_frames: int = 600
    max_fit_poses: int = 20000
    radius_mm: tuple[float, ...] = (4.0, 8.0, 12.0)
    gamma_d: tuple[float, ...] = (0.0, 0.004, 0.01)
    gamma_m: tuple[float, ...] = (0.0, 0.05)
    window: tuple[int, ...] = (2, 4)

    def __post_init__(self) -> None:
        _check([(self.val_frames >= 1, f"refine val_frames must be >= 1, got {self.val_frames}"),
                (self.max_fit_poses >= 1, f"refine max_fit_poses must be >= 1, got {self.max_fit_poses}"),
                (all(len(v) > 0 for v in self.grid().values()), "refine: every grid list needs a value")])

    def grid(self) -> dict[str, tuple]:
        """The search grid: RefineConfig field -> the values tried."""
        return {"radius_mm": self.radius_mm, "gamma_d": self.gamma_d, "gamma_m": self.gamma_m,
                "window": self.window}


@dataclasses.dataclass(frozen=True)
class CentreRefinerConfig:
    """The learned hand-centre refinement trained after the pose network (``pipeline.centre_refiner``;
    the ``centre_refiner`` section): ``fit`` at the end of ``sdnet train`` (``sdnet fit-centre``
    refits), ``steps`` optimizer steps of ``batch_size`` crops, seeded by the experiment's seed."""

    fit: bool = opt(True, "train the learned hand-centre refinement (centre.keras) when training ends",
                    flag="fit-centre")
    steps: int = opt(1000, "steps of the learned hand-centre refinement", flag="centre-steps")
    batch_size: int = 64

    def __post_init__(self) -> None:
        _check([(self.steps >= 1, f"centre_refiner steps must be >= 1, got {self.steps}"),
                (self.batch_size >= 1, f"centre_refiner batch_size must be >= 1, got {self.batch_size}")])


# ---- training: model preset, loss, and the run's resolved configuration ---------------------

# ModelConfig.family: how the network turns a crop into joints; the dense family's readouts.
MODEL_FAMILIES = ("regression", "dense")
DENSE_READOUTS = ("voting", "soft_argmax")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """A ZF-net-style SDNet: conv layers (ReLU, 'same' padding; a 3x3/2 max-pool after those marked
    in ``pool_after``), one fully connected layer with dropout, then 3J linear outputs.
    ``batch_norm``: batch normalization after each convolution and the fully connected layer
    (before the ReLU). ``pca_dims`` > 0: the FC layer feeds ``pca_dims`` linear outputs that a fixed
    PCA basis of the training poses maps to the 3J joints (DeepPrior's low-dimensional pose prior).

    ``preset``: the name of the layer set (``PRESETS``); an experiment's model section is that preset
    with the keys it gives on top. ``input_size``: crop side in pixels, always the experiment's
    ``data.crop_size`` (set when the experiment is resolved). The defaults are the ``cpu`` preset.

    ``family`` 'dense' (``models/dense.py``) replaces the conv/FC layers above by an encoder-decoder:
    a stride-4 stem, one stride-2 stage per entry of ``dense_widths`` after the first (channels per
    stage), a decoder back to maps at stride ``map_stride`` (crop pixels per map pixel), per-pixel
    heatmaps and offsets, and ``readout`` into the same 3J joints; ``map_loss`` > 0 adds a loss on
    the maps (``models.dense.VotingReadout``).
    """

    preset: str = opt("cpu", "model preset: paper = ZF-net layers + FC 2048; cpu = scaled to train fast on "
                      "2 CPU cores; smoke = tiny, for tests; dense = the per-pixel encoder-decoder "
                      "(models/dense.py); dense-smoke = tiny, for tests",
                      choices=("paper", "cpu", "smoke", "dense", "dense-smoke"))
    family: str = opt("regression", "regression = conv layers, FC, 3J outputs (models/sdnet.py); dense = "
                      "per-pixel heatmaps and offsets read out by voting (models/dense.py)",
                      choices=MODEL_FAMILIES)
    input_size: int = 128
    conv_filters: tuple[int, ...] = (48, 96, 128, 128, 96)
    conv_kernels: tuple[int, ...] = (7, 5, 3, 3, 3)
    conv_strides: tuple[int, ...] = (2, 2, 1, 1, 1)
    pool_after: tuple[bool, ...] = (True, True, False, False, True)
    fc_units: int = 1024
    dropout: float = opt(0.0, "dropout rate after the fully connected layer")
    batch_norm: bool = opt(False, "batch normalization after each layer")
    pca_dims: int = opt(0, "predict this many pose coefficients mapped to the joints by a fixed PCA basis of "
                        "the (augmented) training poses (0 = direct joints)")
    dense_widths: tuple[int, ...] = (48, 96, 128)
    map_stride: int = opt(4, "dense family: the maps' stride in crop pixels (a power of 2, >= 2)")
    readout: str = opt("voting", "dense family: voting = heatmap-weighted votes of per-pixel offsets; "
                       "soft_argmax = the heatmap's 2-D soft-argmax, depth voted", choices=DENSE_READOUTS)
    map_loss: float = opt(0.0, "dense family: weight of the loss on the maps, the heatmap-weighted spread of "
                          "the per-pixel votes around their joint; with 1 and the squared joint loss the two "
                          "together are the squared error of every pixel's vote (0 = joints only)")

    def __post_init__(self) -> None:
        n = len(self.conv_filters)
        if not (n == len(self.conv_kernels) == len(self.conv_strides) == len(self.pool_after)) or n == 0:
            raise ValueError("model: conv_filters, conv_kernels, conv_strides, pool_after need one entry per layer")
        if self.input_size < 8:
            raise ValueError(f"model: input_size must be >= 8 px, got {self.input_size}")
        if self.pca_dims < 0:
            raise ValueError(f"model: pca_dims must be >= 0, got {self.pca_dims}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"model: dropout must be in [0, 1), got {self.dropout}")
        if self.family not in MODEL_FAMILIES:
            raise ValueError(f"model: family must be one of {MODEL_FAMILIES}, got {self.family!r}")
        if self.readout not in DENSE_READOUTS:
            raise ValueError(f"model: readout must be one of {DENSE_READOUTS}, got {self.readout!r}")
        if self.map_loss < 0.0:
            raise ValueError(f"model: map_loss must be >= 0, got {self.map_loss}")
        deepest = 2 ** (len(self.dense_widths) + 1)
        if not self.dense_widths or min(self.dense_widths) < 1:
            raise ValueError("model: dense_widths needs at least one positive width")
        if self.map_stride < 2 or self.map_stride & (self.map_stride - 1) or self.map_stride > deepest:
            raise ValueError(f"model: map_stride must be a power of 2 in [2, {deepest}], got {self.map_stride}")


# The model presets, by name (``ModelConfig.preset``): paper = ZF-net (paper Sec. 3.1, 224 px);
# cpu = the same layers scaled to train fast on 2 CPU cores (ModelConfig's defaults); smoke = tiny.
PRESETS: dict[str, ModelConfig] = {
    "paper": ModelConfig(preset="paper", input_size=224, conv_filters=(96, 256, 384, 384, 256),
                         conv_kernels=(7, 5, 3, 3, 3), conv_strides=(2, 2, 1, 1, 1),
                         pool_after=(True, True, False, False, True), fc_units=2048, dropout=0.5),
    "cpu": ModelConfig(),
    "smoke": ModelConfig(preset="smoke", input_size=32, conv_filters=(8, 16, 16, 16, 16),
                         conv_kernels=(5, 3, 3, 3, 3), conv_strides=(2, 1, 1, 1, 1),
                         pool_after=(True, True, False, False, True), fc_units=64, dropout=0.0),
    "dense": ModelConfig(preset="dense", family="dense", dense_widths=(48, 96, 128), map_stride=8),
    "dense-smoke": ModelConfig(preset="dense-smoke", family="dense", input_size=32, dense_widths=(8, 16),
                               map_stride=4),
}


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Training loss: joint loss + sdl_weight * (alpha Loss_a + beta Loss_b); see ``models.losses``.

    ``joint_loss``: the reading of Eq. 1, 'squared' (sum of squared joint distances) or 'distance'
    (sum of joint distances). ``penalty``: 'step' (paper) or 'hinge'.

    Angle thresholds of the penalty F: ``threshold_deg`` (degrees) when set, one value for every
    angle; when None (the default) one per bone pair, the ``threshold_percentile`` of that angle over
    the training labels, derived when training starts and stored in ``angle_thresholds_deg``
    (degrees, ``models.losses.bone_angles`` order) in the run's config.json.

    w schedule: w is 0 for the first ``sdl_start`` fraction of the planned training steps, then
    ramps linearly to ``sdl_weight`` over the next ``sdl_ramp`` fraction (0: at once). Both 0: w
    from the first step (constant). The paper's "fine-tuning" reading is e.g. start 0.5, ramp 0.1.
    The default experiment trains without it (w = 0: docs/reproduce/table1.md measured no gain).
    """

    sdl_weight: float = opt(0.0, "weight w of the skeleton-difference loss (0 = baseline; the paper: 0.5)")
    alpha: float = opt(1.0, "weight of the angle term")
    beta: float = opt(1.0, "weight of the bone-ratio term")
    omega1: float = 1.0
    omega2: float = 1.0
    threshold_deg: float | None = opt(None, "one angle above which F penalizes a bend, degrees (unset: one "
                                      "threshold per angle derived from the training labels)")
    threshold_percentile: float = opt(99.0, "without threshold_deg: each angle's threshold is this "
                                      "percentile of that angle over the training labels")
    angle_thresholds_deg: tuple[float, ...] = ()
    penalty: str = opt("step", "angle feasibility penalty F: step (paper, no gradient) or hinge",
                       choices=PENALTIES)
    joint_loss: str = opt("squared", "reading of Eq. 1: sum of squared joint distances (squared) or of "
                          "joint distances (distance)", choices=JOINT_LOSSES)
    sdl_start: float = opt(0.0, "w schedule: w = 0 for this fraction of the planned steps")
    sdl_ramp: float = opt(0.0, "w schedule: then ramp w linearly to sdl_weight over this fraction (0: at once)")

    def __post_init__(self) -> None:
        if self.penalty not in PENALTIES:
            raise ValueError(f"loss: penalty must be one of {', '.join(PENALTIES)}, got {self.penalty!r}")
        if self.joint_loss not in JOINT_LOSSES:
            raise ValueError(f"loss: joint_loss must be one of {', '.join(JOINT_LOSSES)}, got {self.joint_loss!r}")
        for name in ("sdl_weight", "alpha", "beta", "omega1", "omega2"):
            if getattr(self, name) < 0:
                raise ValueError(f"loss: {name} must be >= 0, got {getattr(self, name)}")
        if self.threshold_deg is not None and not 0.0 < self.threshold_deg <= 180.0:
            raise ValueError(f"loss: threshold_deg must be in (0, 180], got {self.threshold_deg}")
        if not 50.0 <= self.threshold_percentile <= 100.0:
            raise ValueError(f"loss: threshold_percentile must be in [50, 100], got {self.threshold_percentile}")
        object.__setattr__(self, "angle_thresholds_deg", tuple(float(v) for v in self.angle_thresholds_deg))
        if any(not 0.0 <= v <= 180.0 for v in self.angle_thresholds_deg):
            raise ValueError(f"loss: angle_thresholds_deg must lie in [0, 180], got {self.angle_thresholds_deg}")
        if not (0.0 <= self.sdl_start < 1.0 and 0.0 <= self.sdl_ramp <= 1.0 - self.sdl_start):
            raise ValueError(f"loss: need 0 <= sdl_start < 1 and 0 <= sdl_ramp <= 1 - sdl_start, got "
                             f"{self.sdl_start}, {self.sdl_ramp}")

    @property
    def scheduled(self) -> bool:
        """True when w changes during training (a start or ramp fraction is set)."""
        return self.sdl_weight > 0 and (self.sdl_start > 0 or self.sdl_ramp > 0)

    def weight_at(self, fraction: float) -> float:
        """w at ``fraction`` (0..1) of the planned training steps."""
        if self.sdl_ramp > 0:
            return self.sdl_weight * min(1.0, max(0.0, (fraction - self.sdl_start) / self.sdl_ramp))
        return self.sdl_weight if fraction >= self.sdl_start else 0.0


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Online augmentation of training crops (``pipeline.augment``), drawn anew for every batch.

    rotation_deg: in-plane angle uniform in [-rotation_deg, rotation_deg] degrees. scale: zoom
    uniform in [1 - scale, 1 + scale] (a cube of cube/zoom). shift_mm: std of a Gaussian shift of the
    hand centre, mm per axis (the depth axis as a move along the centre's ray). pixel_dropout: share
    of hand pixels set to background. All zero: no augmentation. The defaults are the recipe measured
    best at equal wall time on validation data (docs/recipe/README.md).
    """

    rotation_deg: float = opt(45.0, "in-plane rotation uniform in +-DEG degrees (0: off)", flag="aug-rotation-deg")
    scale: float = opt(0.1, "zoom uniform in 1 +- SCALE (0: off)", flag="aug-scale")
    shift_mm: float = opt(5.0, "std of the hand-centre shift per axis, mm (0: off)", flag="aug-shift-mm")
    pixel_dropout: float = opt(0.0, "share of hand pixels dropped to background", flag="aug-pixel-dropout")

    def __post_init__(self) -> None:
        _check([
            (0.0 <= self.rotation_deg <= 180.0, f"augment rotation_deg must be in [0, 180], got {self.rotation_deg}"),
            (0.0 <= self.scale < 0.5, f"augment scale must be in [0, 0.5), got {self.scale}"),
            (self.shift_mm >= 0.0, f"augment shift_mm must be >= 0, got {self.shift_mm}"),
            (0.0 <= self.pixel_dropout < 1.0, f"augment pixel_dropout must be in [0, 1), got {self.pixel_dropout}"),
        ])


NO_AUGMENT = AugmentConfig(rotation_deg=0.0, scale=0.0, shift_mm=0.0, pixel_dropout=0.0)


@dataclasses.dataclass(frozen=True)
class TrainDataInfo:
    """The facts of the data a run was trained on, copied from its manifest when training starts (the
    ``source`` section of a run's config.json; empty in an experiment file): where it was, its schema
    version, camera intrinsics, skeleton and split counts. The crop settings are the experiment's
    ``data`` section, checked against the manifest."""

    data_dir: str = ""
    schema_version: int = 0
    intrinsics: dict = dataclasses.field(default_factory=dict)
    skeleton: dict = dataclasses.field(default_factory=dict)
    counts: dict = dataclasses.field(default_factory=dict)


# The format of experiment files and RUN/config.json; a file of another version is refused.
CONFIG_VERSION = 1


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """An experiment: everything one training run is made of (``configs/*.json``, ``RUN/config.json``).

    ``description``: what the experiment is, in a sentence. Sections: ``data`` (how the crops are cut; ``sdnet data`` makes them, ``sdnet train`` checks its
    data was made so), ``model``, ``loss``, ``augment`` (online), the run's length and optimizer (the
    flat fields below), ``refine`` and ``centre_refiner`` (fitted at the end of training), and
    ``source`` (the data's facts, filled in when training starts).

    Length of training: ``steps`` or ``epochs`` x steps per epoch (at most one of them), and/or
    ``minutes`` (wall-clock budget for training and validation, over all resumes), which may end it
    earlier; at least one is needed. ``steps_per_epoch``: steps between validations and checkpoints
    (None = one pass over the training split). Learning rate: Adam, linear warm-up over
    ``warmup_steps``, then cosine decay to ``min_lr_fraction`` x ``learning_rate`` at the last step.
    ``precision``: 'auto' (bfloat16 mixed precision on CPUs with native bfloat16 arithmetic and no
    GPU, else float32), 'float32', 'bfloat16' (mixed: bfloat16 compute, float32 weights) or 'float16'
    (mixed, for GPUs). ``strategy``: 'auto' (multi-worker when TF_CONFIG is set, mirrored with > 1
    GPU, else default), 'default', 'mirrored' or 'multiworker'.
    """

    version: int = CONFIG_VERSION
    description: str = ""
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    augment: AugmentConfig = AugmentConfig()
    batch_size: int = opt(32, "global batch size")
    epochs: int | None = opt(None, "epochs to train (instead of steps)")
    steps: int | None = opt(None, "optimizer steps to train (instead of epochs)")
    steps_per_epoch: int | None = opt(400, "steps between validations/checkpoints (unset: one pass over the "
                                      "training split)")
    minutes: float | None = opt(16.0, "wall-clock budget for training + validation (over all resumes); plans "
                                "the learning-rate schedule to end within it (unset: no budget)")
    learning_rate: float = opt(1e-3, "peak Adam learning rate (warm-up then cosine decay)")
    warmup_steps: int = 100
    min_lr_fraction: float = 0.02
    seed: int = opt(0, "random seed (training order, augmentation, initial weights, centre refiner)")
    precision: str = opt("auto", "compute precision (auto: bfloat16 mixed precision on CPUs with native "
                         "bfloat16 such as AVX512_BF16/AMX, else float32; float16 is for GPUs)",
                         choices=PRECISIONS)
    strategy: str = opt("auto", "tf.distribute strategy (auto: multi-worker with TF_CONFIG, mirrored with "
                        "several GPUs, else one device); multi-worker: the same command on every machine "
                        "with its TF_CONFIG, batch_size global, only the chief writes the run",
                        choices=STRATEGIES)
    refine: RefineFitConfig = RefineFitConfig()
    centre_refiner: CentreRefinerConfig = CentreRefinerConfig()
    source: TrainDataInfo = dataclasses.field(default_factory=TrainDataInfo)

    def __post_init__(self) -> None:
        checks = [
            (self.version == CONFIG_VERSION, f"version {self.version}: this sdnet reads experiment version "
             f"{CONFIG_VERSION}"),
            (self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}"),
            (self.epochs is None or self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.steps is None or self.steps >= 1, f"steps must be >= 1, got {self.steps}"),
            (self.steps is None or self.epochs is None, "give steps or epochs, not both"),
            (self.steps is not None or self.epochs is not None or self.minutes is not None,
             "the run has no length: give steps, epochs or minutes"),
            (self.steps_per_epoch is None or self.steps_per_epoch >= 1,
             f"steps per epoch must be >= 1, got {self.steps_per_epoch}"),
            (self.minutes is None or self.minutes > 0, f"minutes must be > 0, got {self.minutes}"),
            (self.learning_rate > 0, f"learning rate must be > 0, got {self.learning_rate}"),
            (self.warmup_steps >= 0, f"warmup steps must be >= 0, got {self.warmup_steps}"),
            (0.0 <= self.min_lr_fraction <= 1.0, f"min_lr_fraction must be in [0, 1], got {self.min_lr_fraction}"),
            (self.precision in PRECISIONS,
             f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"),
            (self.strategy in STRATEGIES,
             f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}"),
            (self.model.input_size == self.data.crop_size,
             f"model.input_size {self.model.input_size} differs from data.crop_size {self.data.crop_size} "
             "(the input size follows data.crop_size: leave model.input_size out)"),
        ]
        _check(checks)



@dataclasses.dataclass(frozen=True)
class SynthConfig:
    """``sdnet synth``: a synthetic ICVL tree (frame counts, seed, subject and sensor parameters).

    Lengths in mm, probabilities per pixel. Written to ``synth.json``; the same config and seed give
    the same bytes whatever the Beam runner or its parallelism.

    Sensor: the named ``sensor_profile`` (``pipeline.synth.profiles.SENSOR_PROFILES``: 'default' or
    'occluded') gives every sensor parameter; the four sensor fields below override it when set
    (None = the profile's value). ``synth.json`` records the resolved sensor beside this config.

    Camera: ``camera`` names one of ``pipeline.camera.CAMERAS``; ``intrinsics`` (a dict of the
    Intrinsics fields, with ``depth_scale``), when set, is the camera actually used (e.g. from
    ``--intrinsics FILE.json`` or single-field overrides) and ``camera`` is then 'custom' or the name
    it started from. Frames are rendered at its size and written in its depth unit.

    Scenes: a share ``scene_fraction`` of the training sequences and ``test_scene_fraction`` of the
    test sequences (whole sequences) are real-camera scenes (``pipeline.synth.scene``: hand at
    250-900 mm, forearm out of the image, torso and clutter behind), seen by the sensor profile
    ``scene_sensor_profile`` (None: the same sensor as the plain frames; the default, 'structured',
    stands for users' RealSense-class cameras).

    Views: plain sequences have ICVL's orientation prior (the side of the hand ICVL's images show, yaw
    within +-75 degrees), a share ``back_fraction`` of them turned around (the other side toward the
    camera; 0: ICVL's test set never shows it); scene sequences, which stand for users' cameras, have
    every yaw (``pipeline.synth.poses.SCENE_VIEW``: within +-90 of either side), a share
    ``scene_back_fraction`` turned around (``pipeline.synth.frames.sequence_view``). An NYU tree has
    NYU's views (``nyu_mode.NYU_VIEW``) whatever these say.

    Dataset: ``dataset`` 'icvl' writes an ICVL tree (everything above applies); 'nyu' an NYU Hand
    tree (``pipeline.synth.nyu_mode``: NYU's camera, distances, proportions, views and two subjects,
    every frame a scene). An NYU config names its camera 'nyu' with NYU's intrinsics, and both scene
    fractions are 1; ``scale_range`` does not apply (the two subjects have NYU's sizes).
    """

    dataset: str = opt("icvl", "the tree to write: icvl (Training/, Testing/, 16-joint label lines) or nyu "
                       "(train/, test/ with RGB-encoded depth PNGs and joint_data.mat, NYU Hand's format)",
                       choices=SYNTH_DATASETS)
    seed: int = 0
    train_frames: int = 20000
    test_frames: int = 1596
    sequence_length: int = 200
    camera: str = "icvl"
    scale_range: float = 0.15  # subject hand scale uniform in 1 +- scale_range
    bone_noise: float = 0.04  # relative per-bone length noise (std)
    sensor_profile: str = "default"
    noise_mm_at_300: float | None = None  # None: the profile's value
    dropout: float | None = None
    edge_dropout: float | None = None
    flying_pixels: float | None = None
    intrinsics: dict | None = None  # the camera's fields (pipeline.camera.Intrinsics); None: CAMERAS[camera]
    scene_fraction: float = 0.3  # share of training sequences that are scenes
    test_scene_fraction: float = 0.0  # share of test sequences that are scenes
    scene_sensor_profile: str | None = "structured"  # sensor of scene frames; None: sensor_profile (+ overrides)
    back_fraction: float = 0.0  # plain sequences turned around (back toward the camera): ICVL shows one side
    scene_back_fraction: float = 0.5  # scene sequences turned around: a user's camera sees palm and back

    def __post_init__(self) -> None:
        if self.intrinsics is None:
            _check([(self.camera in CAMERAS, f"camera must be one of {', '.join(CAMERAS)} (or give "
                     f"intrinsics), got {self.camera!r}", ("camera",))])
        else:
            try:
                Intrinsics.from_dict(dict(self.intrinsics))
            except (TypeError, ValueError) as e:
                raise ConfigError(str(e), ("intrinsics",)) from None
        nyu = self.dataset == "nyu"
        checks = [
            (self.dataset in SYNTH_DATASETS, f"dataset must be one of {', '.join(SYNTH_DATASETS)}, got "
             f"{self.dataset!r}", ("dataset",)),
            (not nyu or (self.camera == "nyu" and self.intrinsics is not None),
             "an NYU tree is rendered with NYU's camera (camera 'nyu' with its intrinsics)", ("camera",)),
            (not nyu or self.scene_fraction == self.test_scene_fraction == 1.0,
             "every frame of an NYU tree is a scene (arm and body in view): scene fractions must be 1",
             ("scene_fraction", "test_scene_fraction")),
            (0.0 <= self.scene_fraction <= 1.0, f"scene_fraction must be in [0, 1], got {self.scene_fraction}",
             ("scene_fraction",)),
            (0.0 <= self.test_scene_fraction <= 1.0,
             f"test_scene_fraction must be in [0, 1], got {self.test_scene_fraction}", ("test_scene_fraction",)),
            (0.0 <= self.back_fraction <= 1.0, f"back_fraction must be in [0, 1], got {self.back_fraction}",
             ("back_fraction",)),
            (0.0 <= self.scene_back_fraction <= 1.0,
             f"scene_back_fraction must be in [0, 1], got {self.scene_back_fraction}", ("scene_back_fraction",)),
            (self.scene_sensor_profile is None or self.scene_sensor_profile in SENSOR_PROFILES,
             f"scene_sensor_profile must be one of {', '.join(SENSOR_PROFILES)}, got {self.scene_sensor_profile!r}",
             ("scene_sensor_profile",)),
            (self.sensor_profile in SENSOR_PROFILES, f"sensor_profile must be one of "
             f"{', '.join(SENSOR_PROFILES)}, got {self.sensor_profile!r}", ("sensor_profile",)),
            (self.train_frames >= 0, f"train_frames must be >= 0, got {self.train_frames}", ("train_frames",)),
            (self.test_frames >= 0, f"test_frames must be >= 0, got {self.test_frames}", ("test_frames",)),
            (self.train_frames + self.test_frames > 0, "nothing to make: train_frames + test_frames is 0",
             ("train_frames", "test_frames")),
            (self.sequence_length >= 1, f"sequence_length must be >= 1, got {self.sequence_length}",
             ("sequence_length",)),
            (0 <= self.seed < 2**63, f"seed must be in [0, 2^63), got {self.seed}", ("seed",)),
            (0.0 <= self.scale_range < 0.5, f"scale_range must be in [0, 0.5), got {self.scale_range}",
             ("scale_range",)),
            (0.0 <= self.bone_noise < 0.2, f"bone_noise must be in [0, 0.2), got {self.bone_noise}", ("bone_noise",)),
            (self.noise_mm_at_300 is None or self.noise_mm_at_300 >= 0,
             f"noise_mm_at_300 must be >= 0, got {self.noise_mm_at_300}", ("noise_mm_at_300",)),
        ]
        for name in ("dropout", "edge_dropout", "flying_pixels"):
            value = getattr(self, name)
            checks.append((value is None or 0.0 <= value <= 1.0, f"{name} must be in [0, 1], got {value}", (name,)))
        _check(checks)

    def camera_intrinsics(self):
        """The camera frames are rendered with (``pipeline.camera.Intrinsics``)."""
        return CAMERAS[self.camera] if self.intrinsics is None else Intrinsics.from_dict(dict(self.intrinsics))

    def sensor_overrides(self) -> dict:
        """The sensor fields set in this config (SensorModel names -> values), on top of the profile."""
        names = ("noise_mm_at_300", "dropout", "edge_dropout", "flying_pixels")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}
