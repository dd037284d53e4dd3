"""Landmark file formats: iBUG ``.pts`` files and 300VW dataset folders."""
