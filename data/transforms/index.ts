export * from './random_resized_crop';
export * from './resize';
export * from './flip';
export * from './color_jitter';
export * from './grayscale';
export * from './gaussian_blur';
export * from './solarize';
export * from './normalize';
