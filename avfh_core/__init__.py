"""avfh_core: the small tested core library behind the avfh notebooks.

Five papers on audio-visual face hallucination, reproduced on an embedded synthetic audio-visual world:
VFH-GAN (main), Learning to Have an Ear for Face Super-Resolution, SECNet, talking faces from noisy speech, VividGAN.
"""

__version__ = "0.1.0"
