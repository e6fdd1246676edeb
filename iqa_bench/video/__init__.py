"""Video SR quality: clips, ffmpeg, per-frame SR into lossless .y4m, VMAF/PSNR/SSIM and temporal metrics.

Needs the ``[video]`` extra (imageio-ffmpeg's ffmpeg with libvmaf, ffmpeg-quality-metrics, vmaf-torch).
"""
