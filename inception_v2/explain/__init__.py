"""Why the network chose: Grad-CAM maps (``grad_cam``) and the sheets drawn from them (``sheets``)."""
