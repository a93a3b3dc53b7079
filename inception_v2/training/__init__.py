"""Fine-tuning: the classifier (``classifier``, ``compiling``), the resumable run (``run``,
``run_folder``, ``backup``) and data-parallel training (``distributed``)."""
