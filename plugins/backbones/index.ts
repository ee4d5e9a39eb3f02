// Built-in backbones; each file registers its plugins when imported.
export * from './features';
export * from './mobilenetv2';
export * from './resnet';
export * from './vit';
