"""Training (``fomm train``), in parts:

- ``config``: the official ``dataset_params`` / ``train_params`` layout as dataclasses, plus our options;
- ``data``, ``augment``: videos as (source, driving) frame pairs, augmented alike;
- ``transforms``, ``losses``: random affine + TPS warps and the paper's losses (tensor math);
- ``step``: what the loop needs from a model family (``TrainingStep``); ``fomm_step``: FOMM's step, with an
  adversarial part when the config has a discriminator; ``vgg_weights``: ImageNet weights for its VGG-19;
- ``loop``: the loop (single process or torchrun/DDP); ``distributed``: processes and devices;
- ``run_folder``: which config, the lock, starting over; ``checkpointing``: atomic checkpoints, resuming;
- ``logbook``, ``plot``, ``visualize``: log.jsonl, loss curves, pictures of training batches.
"""
