"""FaceProp's PySide6 labelling GUI: widgets, Qt models, undo commands and the trainer QProcess.

The GUI only calls ``core`` services (never SQLAlchemy sessions, never torch)."""
