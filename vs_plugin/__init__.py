"""vsvidrestore: the vidrestore model as a VapourSynth filter.

In a ``.vpy`` script::

    import vsvidrestore
    clip = vsvidrestore.restore(clip)            # same format, size, length, fps and props

and encode with ``vspipe -c y4m script.vpy - | x265 --y4m -o out.hevc -``.

``vsvidrestore.source(path)`` opens a video file with PyAV (frame-accurate, seekable)
for scripts that have no source plugin installed.
"""

from ._restore import restore
from .source import source

__all__ = ["restore", "source"]
__version__ = "0.1.0"
