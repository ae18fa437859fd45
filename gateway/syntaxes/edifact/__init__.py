"""EDIFACT: the interchange syntax layer (``syntax``: bytes <-> segments, envelope checks, streaming)
and CONTRL acknowledgements (``contrl``). Message grammars and mappings build on these."""
from gateway.syntaxes.edifact.contrl import (ContrlReport, build_contrl, contrl_interchange, parse_contrl,
                                             read_contrl)
from gateway.syntaxes.edifact.syntax import (LEVELS, Group, Interchange, InterchangeReader, InterchangeWriter,
                                             Message, MessageReceipt, Package, Party, Segment, Separators,
                                             SyntaxIssue, SyntaxLevel, iter_messages, new_interchange,
                                             new_message, read_interchange, read_interchanges,
                                             write_interchange)

__all__ = ["LEVELS", "Group", "Interchange", "InterchangeReader", "InterchangeWriter", "Message", "MessageReceipt",
           "Package", "Party", "Segment", "Separators", "SyntaxIssue", "SyntaxLevel", "iter_messages",
           "new_interchange", "new_message", "read_interchange", "read_interchanges", "write_interchange",
           "ContrlReport", "build_contrl", "contrl_interchange", "parse_contrl", "read_contrl"]
