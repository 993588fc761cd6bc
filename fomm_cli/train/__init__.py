"""Training FOMM models (``fomm train``).

- ``config``: the official ``dataset_params`` / ``train_params`` layout as dataclasses;
- ``data``, ``augment``: videos as (source, driving) frame pairs, augmented alike;
- ``transforms``, ``losses``: random affine + TPS warps and the paper's losses (pure tensor math);
- ``vgg_weights``: finding ImageNet weights for the VGG-19 perceptual loss;
- ``trainer``: the loop (single process or torchrun/DDP); ``checkpointing``: the run folder;
- ``visualize``: pictures of training batches.
"""
