// The batch statistic lives in data/ (the loader computes it per batch); views re-export it.
export { meanPsRatio, meanPixelScale } from '../../data/pixel_scale';
