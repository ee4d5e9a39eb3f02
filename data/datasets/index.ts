// Importing this module registers the `generated` and `image_folder` dataset plugins.
export { GeneratedDataset, generatedSchema, type GeneratedOptions } from './generated';
export { ImageFolderDataset, imageFolderSchema, resolveSplitDir, type ImageFolderOptions } from './image_folder';
export { decodeImage } from './decode';
export { scanClassFolders, type FolderIndex } from './scan';
export { renderShape, SHAPE_CLASSES } from './shapes';
