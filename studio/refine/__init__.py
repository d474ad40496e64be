"""Refine and deliver (issue 11): variations, inpainting and outpainting, upscaling, image to text, print export.

Built on the studio's models without adding any: results are :class:`studio.models.StudioImage` rows (so the
gallery, boards, recall and serving rules apply unchanged) whose metadata records the mode and the source
image; the work runs as jobs on the shared job layer (``studio.refine`` on the image queue, ``studio.describe``
on the vision queue, ``studio.export`` on the default queue) whose parameters and results live on the Job row.
"""
