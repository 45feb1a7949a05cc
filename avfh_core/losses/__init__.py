"""avfh_core.losses: the loss toolkit (pure functions and modules: no training, no data).

frequency:   FocalFrequencyLoss (VFH-GAN eqs. 9-10), dft_loss (eq. 8), dft2_naive (eqs. 6-7), radial_band_error.
adversarial: non-saturating (vanilla), LSGAN and WGAN-GP generator / discriminator losses, gradient_penalty.
perceptual:  PerceptualLoss (VFH-GAN eq. 11) over a feature network of avfh_core.models.featurenet.
face_structure: symmetry_loss, identity_loss, heatmap_loss (VividGAN eqs. 3, 5, 6).
mouth_mask:  gaussian_mouth_mask, masked_l1 (Eskimez et al. eq. 1).
noise:       noise_resilience_loss (Eskimez et al. section 3.2).
lipreading:  the VFH-GAN lip-reading loss (eq. 5) over a pretrained avfh_core.models.lipreader.LipReader.
"""
