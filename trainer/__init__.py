"""FaceProp trainer: models, losses, the propagation job and the baseline propagators."""
