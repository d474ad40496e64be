"""Print-ready export: physical sizing, CMYK through an ICC output profile, PDF and TIFF writers, dielines.

Independent of the studio's models on purpose: everything here takes PIL images and numbers and returns
bytes, so a job, a view or a benchmark can call it the same way. ``export.export_print`` is the entry point.
"""

import logging

# pikepdf logs one INFO line when it loads ("logger bridge initialized"): noise in every command's output.
logging.getLogger("pikepdf._core").setLevel(logging.WARNING)
