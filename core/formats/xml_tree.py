"""A small XML reader that keeps the line of every element, so a format error can say where.

``xml.etree`` forgets line numbers; this builds a plain tree with expat (the parser under
``xml.etree``) and refuses document type declarations, so no entity can expand or reach out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from core.errors import FormatError


@dataclass
class XmlNode:
    tag: str
    attrs: dict[str, str]
    line: int
    children: list[XmlNode] = field(default_factory=list)
    text: str = ""


def parse_xml_bytes(data: bytes, source: str) -> XmlNode:
    """The document's root element; FormatError naming the line when it is not well formed."""
    parser = expat.ParserCreate()
    stack: list[XmlNode] = []
    roots: list[XmlNode] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        node = XmlNode(tag, attrs, parser.CurrentLineNumber)
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    def end(_tag: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        if stack:
            stack[-1].text += data

    def doctype(*_args: object) -> None:
        raise FormatError(f"{source}: line {parser.CurrentLineNumber}: a <!DOCTYPE> "
                          "declaration; annotation files never need one, so it is refused")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.StartDoctypeDeclHandler = doctype
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise FormatError(f"{source}: line {exc.lineno}: not well-formed XML "
                          f"({expat.ErrorString(exc.code)})") from None
    if not roots:
        raise FormatError(f"{source}: no XML element")
    return roots[0]


def parse_xml(path: str | os.PathLike[str]) -> XmlNode:
    """Read and parse an XML file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return parse_xml_bytes(data, str(path))
