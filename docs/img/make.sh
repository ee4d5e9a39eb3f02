#!/bin/sh
# Makes the README's pictures: docs/img/dashboard.png (the live dashboard of the quickstart) and
# docs/img/plot.png (the quickstart next to the same run with DINO's views as the baseline).
# Run from the repository root after `npm run build`; needs chromium for the screenshot.
set -e
node bin/sslight.js pretrain --config configs/quickstart.yaml --out runs/quickstart-dino-views --overwrite --quiet \
  --set views.name=dino --set views.local_crop_size=14 --set method.alpha=null
node bin/sslight.js pretrain --config configs/quickstart.yaml --out runs/quickstart --overwrite --quiet --dashboard 8765 &
node docs/img/screenshot.js http://127.0.0.1:8765/ docs/img/dashboard.png 300
wait
node bin/sslight.js plot runs/quickstart-dino-views runs/quickstart --labels "DINO views (baseline),SSLight views" \
  --metrics loss,loss_gg,loss_gl,teacher_entropy,lr,images_per_s --out docs/img/plot.png
