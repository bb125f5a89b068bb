"""The evaluation protocol behind the published tables: MATLAB bicubic (`imresize`), Y-channel PSNR/SSIM with the
border crop (`metrics`), and LPIPS (`lpips`)."""
