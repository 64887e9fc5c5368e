"""The streaming HTML pipeline: a tag scanner and ordered rewrite stages."""

from gateway.html.compression import BodyDecodeError, CorruptBody, DecodedBodyTooLarge
from gateway.html.response import HtmlRewrite, rewrite_html
from gateway.html.rewriter import HtmlRewriter
from gateway.html.slot_fill import SlotFill
from gateway.html.stage import ALL, DocumentEnd, EndTag, Stage, StartTag

__all__ = [
    "ALL",
    "BodyDecodeError",
    "CorruptBody",
    "DecodedBodyTooLarge",
    "DocumentEnd",
    "EndTag",
    "HtmlRewrite",
    "HtmlRewriter",
    "SlotFill",
    "Stage",
    "StartTag",
    "rewrite_html",
]
