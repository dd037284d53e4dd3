"""Frame-exact random access to video files: a one-pass index (``index``), verified seeks with an
LRU frame cache and background prefetch (``reader``), and MJPG writing/transcoding (``writing``).
"""

from core.video.index import VideoIndex, VideoInfo, file_hash, probe_video, sample_hash
from core.video.reader import VideoReader
from core.video.writing import transcode_and_index, transcode_to_mjpg, write_video

__all__ = ["VideoIndex", "VideoInfo", "VideoReader", "file_hash", "probe_video", "sample_hash",
           "transcode_and_index", "transcode_to_mjpg", "write_video"]
