"""Landmark file formats: iBUG ``.pts`` files, 300VW dataset folders, COCO keypoints and CVAT
for video 1.1 XML."""
