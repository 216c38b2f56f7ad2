"""files.list's ``q``: the part of Drive's search-query language the stand-in understands, compiled to a
predicate on stored files. Anything else answers Google's 400 ``invalid`` for ``q``.

Terms: ``name`` (contains, =, !=), ``fullText contains``, ``mimeType`` (contains, =, !=), ``trashed`` and
``starred`` (=, != with true/false), ``modifiedTime`` and ``createdTime`` (=, !=, <, <=, >, >= with an
RFC 3339 string), ``'<id>' in parents``, ``'<email>' in owners|writers|readers``, ``sharedWithMe``,
``properties has {key='k' and value='v'}`` (and ``appProperties``); combined with ``and``, ``or``, ``not``
and parentheses. As Drive's guide says, ``name contains`` matches prefixes only: ``'Hello'`` finds
"HelloWorld", ``'World'`` does not (here: a prefix of the name or of one of its words).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from local_stack.google_standin.drive_files import StoredFile
from local_stack.google_standin.errors import GoogleApiError, invalid_value

Predicate = Callable[[StoredFile], bool]

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<op><=|>=|!=|=|<|>)|(?P<punct>[(){}])|(?P<word>[A-Za-z_][\w.]*))"
)
_WORDS = re.compile(r"[^\W_]+", re.UNICODE)


def compile_query(q: str, *, root_id: str) -> Predicate:
    """The predicate ``q`` stands for; ``root_id`` is what ``'root' in parents`` means."""
    tokens = _tokenize(q)
    parser = _Parser(tokens, root_id)
    predicate = parser.expression()
    if parser.position != len(tokens):
        raise _invalid()
    return predicate


def _invalid() -> GoogleApiError:
    return invalid_value("q")


def _tokenize(q: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(q):
        if q[position:].strip() == "":
            break
        match = _TOKEN.match(q, position)
        if match is None or match.end() == position:
            raise _invalid()
        kind = str(match.lastgroup)
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        tokens.append((kind, value))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], root_id: str) -> None:
        self.tokens = tokens
        self.position = 0
        self.root_id = root_id

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, kind: str | None = None, value: str | None = None) -> str:
        token = self.peek()
        if token is None or (kind is not None and token[0] != kind):
            raise _invalid()
        if value is not None and token[1].lower() != value.lower():
            raise _invalid()
        self.position += 1
        return token[1]

    def at_word(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "word" and token[1].lower() == word

    def expression(self) -> Predicate:
        terms = [self.conjunction()]
        while self.at_word("or"):
            self.take()
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else (lambda f: any(term(f) for term in terms))

    def conjunction(self) -> Predicate:
        terms = [self.negation()]
        while self.at_word("and"):
            self.take()
            terms.append(self.negation())
        return terms[0] if len(terms) == 1 else (lambda f: all(term(f) for term in terms))

    def negation(self) -> Predicate:
        if self.at_word("not"):
            self.take()
            inner = self.negation()
            return lambda f: not inner(f)
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.expression()
            self.take("punct", ")")
            return inner
        return self.term()

    def term(self) -> Predicate:
        token = self.peek()
        if token is None:
            raise _invalid()
        if token[0] == "string":  # '<value>' in <collection>
            value = self.take()
            self.take("word", "in")
            return self.membership(value, self.take("word"))
        name = self.take("word")
        if name in ("properties", "appProperties"):
            return self.has_property(name)
        if name == "sharedWithMe":
            return self.boolean(lambda f: False)
        operator = self.take("word", "contains") if self.at_word("contains") else self.take("op")
        if name in ("trashed", "starred"):
            flag = self.take("word")
            if flag not in ("true", "false") or operator not in ("=", "!="):
                raise _invalid()
            wanted = (flag == "true") == (operator == "=")
            if name == "starred":
                return lambda f: wanted is False
            return lambda f: f.trashed is wanted
        value = self.take("string")
        if name == "name":
            return _text_term(operator, value, lambda f: f.name, prefix=True)
        if name == "mimeType":
            return _text_term(operator, value, lambda f: f.mime_type, prefix=False)
        if name == "fullText" and operator == "contains":
            needle = value.lower()
            return lambda f: needle in f"{f.name}\n{f.description or ''}\n{_body(f)}".lower()
        if name in ("modifiedTime", "createdTime") and operator != "contains":
            return _time_term(name, operator, value)
        raise _invalid()

    def boolean(self, predicate: Predicate) -> Predicate:
        self.take("op", "=")
        flag = self.take("word")
        if flag not in ("true", "false"):
            raise _invalid()
        return predicate if flag == "true" else (lambda f: not predicate(f))

    def membership(self, value: str, collection: str) -> Predicate:
        if collection == "parents":
            parent = self.root_id if value == "root" else value
            return lambda f: parent in f.parents
        roles = {"owners": {"owner"}, "writers": {"owner", "writer"}, "readers": {"reader", "commenter"}}
        if collection not in roles:
            raise _invalid()
        wanted = roles[collection]
        return lambda f: any(
            p.role in wanted and value.lower() in ((p.email_address or "").lower(), (p.domain or "").lower())
            for p in f.permissions
        )

    def has_property(self, name: str) -> Predicate:
        self.take("word", "has")
        self.take("punct", "{")
        self.take("word", "key")
        self.take("op", "=")
        key = self.take("string")
        self.take("word", "and")
        self.take("word", "value")
        self.take("op", "=")
        value = self.take("string")
        self.take("punct", "}")
        if name == "properties":
            return lambda f: f.properties.get(key) == value
        return lambda f: f.app_properties.get(key) == value


def _body(stored: StoredFile) -> str:
    return "\n".join(stored.paragraphs or [])


def _text_term(operator: str, value: str, read: Callable[[StoredFile], str], *, prefix: bool) -> Predicate:
    if operator == "=":
        return lambda f: read(f) == value
    if operator == "!=":
        return lambda f: read(f) != value
    if operator != "contains":
        raise _invalid()
    needle = value.lower()
    if not prefix:
        return lambda f: needle in read(f).lower()

    def starts_a_word(f: StoredFile) -> bool:
        text = read(f).lower()
        return text.startswith(needle) or any(
            text[match.start() :].startswith(needle) for match in _WORDS.finditer(text)
        )

    return starts_a_word


def _time_term(name: str, operator: str, value: str) -> Predicate:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid() from None
    if moment.tzinfo is None:
        raise _invalid()
    bound = moment.timestamp()
    compare: dict[str, Callable[[float], bool]] = {
        "=": lambda t: t == bound,
        "!=": lambda t: t != bound,
        "<": lambda t: t < bound,
        "<=": lambda t: t <= bound,
        ">": lambda t: t > bound,
        ">=": lambda t: t >= bound,
    }
    check = compare[operator]
    if name == "modifiedTime":
        return lambda f: check(_millis(f.modified))
    return lambda f: check(_millis(f.created))


def _millis(seconds: float) -> float:
    """Stored times compare at the millisecond the resource shows them with."""
    return int(seconds * 1000) / 1000
