"""Why a point was kept or dropped. Torch-free: the device runtime shares these codes."""

#: ``Decision.reason`` and the ONNX filter's ``reason`` output hold indices into this tuple.
REASONS = (
    "outside_window",  # DRIP: score outside the class's [L_lower, L_upper]: kept
    "inside_window",  # DRIP: score inside the window, a routine point: dropped
    "uncalibrated_class",  # DRIP: the predicted class has no thresholds: kept, never dropped
    "random_keep",  # random baseline drew keep
    "random_drop",  # random baseline drew drop
    "batch",  # batch selectors (Titan and rivals): picked for this round's training batch
    "not_picked",  # batch selectors: a candidate the fine stage passed over
    "coarse_filtered",  # batch selectors: the coarse stage did not buffer it
)
REASON_CODES = {name: code for code, name in enumerate(REASONS)}
