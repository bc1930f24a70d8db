"""datasets: where samples come from. Built-in entries are registered lazily (imported on first use)."""
from ..registry import DATASETS

DATASETS.lazy("coco", "bench.datasets.coco:CocoDataset")
DATASETS.lazy("folder", "bench.datasets.folder:FolderDataset")
DATASETS.lazy("hf", "bench.datasets.hf:HFDataset")
DATASETS.lazy("samples", "bench.datasets.samples:SamplesDataset")
DATASETS.lazy("synthetic", "bench.datasets.synthetic:SyntheticDataset")
