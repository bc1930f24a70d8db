"""Calibration of the failure detectors: labelled cases (synthetic, by construction; or human labels of real
outputs) and the fitting of thresholds. Not runtime code: the detectors import nothing from here, from datasets or
from masks; this room imports them."""
