"""avfh_core.metrics: the evaluation toolkit, batched in torch and pinned to reference implementations.

Images: psnr, ssim (BT.601 Y, border crop, 11x11 Gaussian SSIM), region_scores / box_mask (mouth region).
Video (SECNet eqs. 11-15): video_psnr, psnr_per_frame, ssim_vh, ssim_vt. Edges: erqa (1.0 and 1.1).
Landmarks (Eskimez et al.): nlmd (alignment and heatmaps: avfh_core.data.landmarks). Significance: avfh_core.metrics.stats (paired_ttest, bootstrap_ci, claim_verdict).
Classifier metrics (identity / gender / age, embedding similarity): avfh_core.metrics.attributes.
"""

from avfh_core.metrics.erqa import erqa
from avfh_core.metrics.image import box_mask, mse, psnr, region_scores, rgb_to_y, ssim, ssim_map
from avfh_core.metrics.landmarks import nlmd
from avfh_core.metrics.stats import bootstrap_ci, claim_verdict, paired_ttest
from avfh_core.metrics.video import psnr_per_frame, ssim_vh, ssim_vt, video_psnr

__all__ = [
    "box_mask", "bootstrap_ci", "claim_verdict", "erqa", "mse", "nlmd", "paired_ttest",
    "psnr", "psnr_per_frame", "region_scores", "rgb_to_y", "ssim", "ssim_map", "ssim_vh", "ssim_vt", "video_psnr",
]
