"""Images in: slim's preprocessing, the evaluation sources (``sources``), class folders with
slim's training augmentation (``training``), ImageNet's labels, calibration images, the bundled
example data. Resources (label files, sample images) live in ``assets/``."""
