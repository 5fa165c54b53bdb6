"""What to say: articles, canned replies, multilingual matching, import/export, evaluation."""

from kb.article import Article, CannedReply
from kb.canned import CannedIndex
from kb.errors import KbError, KbFormatError
from kb.matcher import KnowledgeIndex, Suggestion

__all__ = [
    "Article",
    "CannedIndex",
    "CannedReply",
    "KbError",
    "KbFormatError",
    "KnowledgeIndex",
    "Suggestion",
]
