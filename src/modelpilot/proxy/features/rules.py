"""Keyword and conversation rules for the task categories (DESIGN.md §3).

The learned classifier only knows the categories that public benchmarks label (code, math, qa,
reasoning, creative writing, translation, classification), and it learned their formats as much
as their tasks: measured on live-shaped requests (``python -m bench.categories``), it calls most
conversational English "creative_writing". Instructions such as "summarize", "rewrite",
"extract ... as JSON", "write a poem" or "explain your reasoning" are explicit enough that a rule
is both cheaper and more reliable than a model; rules look only at the head and tail of the
instruction, where people put it, so a long pasted document that happens to contain "summary"
does not flip the category.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelpilot.schema.wire import Category

# Stripped from both ends of a word ("summarize:", "(translate"), as
# :func:`modelpilot.proxy.features.text.words` does for the classifier.
_EDGE_PUNCTUATION = ".,;:!?\"'()[]{}<>*`"


def _is_bounded(text: str, marker: str, *, stem: bool = False) -> bool:
    """Whether ``marker`` occurs in ``text`` as whole words ("a toast for" but not "a toaster
    for", "lol" but not "lollies"), or as the start of a word for a ``stem`` ("übersetz" of
    "übersetzen"). A marker that starts or ends with punctuation or a space ("? justify",
    "fields:") is bounded by that character itself."""
    check_start = marker[0].isalnum()
    check_end = marker[-1].isalnum() and not stem
    start = text.find(marker)
    while start >= 0:
        end = start + len(marker)
        if (not check_start or start == 0 or not text[start - 1].isalnum()) and (
            not check_end or end == len(text) or not text[end].isalnum()
        ):
            return True
        start = text.find(marker, start + 1)
    return False


# A word that starts this many phrases or more is screened by one regex of its phrases before
# they are looked for one by one: "the" starts 56 ("the french for", ...), and nearly every
# English text holds "the", so a scan per phrase cost ~20 us a request where one search costs ~1.
_SCREEN_MIN_PHRASES = 5


# Words of English that other languages written in the Latin script do not use: a text holding
# none of them is read for the stems of other languages' task verbs.
_ENGLISH_WORDS = frozenset(
    ("the", "and", "of", "to", "you", "this", "that", "with", "for", "please", "what", "how", "can")
    + ("my", "it", "your", "are", "be", "have", "these", "from", "into", "about", "write", "give")
)
#: Marks a stem among the phrases: "übersetz*" is found at the start of any word ("übersetzen",
#: "übersetze", "Übersetzung"), where a phrase must be whole words.
_STEM = "*"


def _is_unspaced(marker: str) -> bool:
    """Whether ``marker`` is written in a script from Devanagari on (Chinese, Japanese, Korean,
    Thai, ...): words there are not separated by spaces, or carry their endings in the same
    word ("번역해"), so such a phrase is found as a plain substring."""
    return any(ord(character) >= 0x0900 for character in marker)


class _Markers:
    """Phrases indexed by their first word, so that a text is searched only for the phrases whose
    first word it contains: one set intersection instead of a substring scan per phrase (the
    rules hold a few hundred phrases and run on every request). Phrases in unspaced scripts are
    looked for only in a text that is not pure ASCII, and stems (other languages' inflected
    verbs) only in a text without English words."""

    __slots__ = ("_by_word", "_screens", "_stems", "_unkeyed", "_unspaced", "_words")

    def __init__(self, markers: tuple[str, ...]) -> None:
        by_word: dict[str, list[str]] = {}
        unkeyed: list[str] = []
        unspaced: list[str] = []
        stems: list[str] = []
        for marker in markers:
            if _is_unspaced(marker):
                unspaced.append(marker)
            elif marker.endswith(_STEM):
                stems.append(marker.removesuffix(_STEM))
            elif marker[0].isalnum():
                by_word.setdefault(marker.split()[0].strip(_EDGE_PUNCTUATION), []).append(marker)
            else:
                unkeyed.append(marker)
        self._by_word = {word: tuple(group) for word, group in by_word.items()}
        self._words = frozenset(by_word)
        self._unkeyed = tuple(unkeyed)
        self._unspaced = tuple(unspaced)
        self._stems = tuple(stems)
        # A match of the screen is a phrase found as a substring: a text it does not match holds
        # none of the group, and one it matches is checked phrase by phrase as before.
        self._screens = {
            word: re.compile("|".join(map(re.escape, group)))
            for word, group in by_word.items()
            if len(group) >= _SCREEN_MIN_PHRASES
        }

    def found_in(self, text: str, words: frozenset[str]) -> bool:
        """Whether ``text`` (whose :func:`words_of` are ``words``) holds one of the phrases."""
        for word in self._words & words:
            screen = self._screens.get(word)
            if screen is not None and screen.search(text) is None:
                continue
            for marker in self._by_word[word]:
                if marker in text and _is_bounded(text, marker):
                    return True
        if any(marker in text and _is_bounded(text, marker) for marker in self._unkeyed):
            return True
        if (
            self._stems
            and _ENGLISH_WORDS.isdisjoint(words)
            and any(stem in text and _is_bounded(text, stem, stem=True) for stem in self._stems)
        ):
            return True
        return (
            bool(self._unspaced) and not text.isascii() and any(marker in text for marker in self._unspaced)
        )


@dataclass(frozen=True, slots=True)
class Excerpt:
    """Where the rules look (see :func:`instruction_excerpt`): the lowered text and its words."""

    text: str
    words: frozenset[str]


def words_of(text: str) -> frozenset[str]:
    """The distinct whitespace-separated words of ``text``, edge punctuation stripped (as the
    classifier's words are)."""
    return frozenset(word.strip(_EDGE_PUNCTUATION) or word for word in text.split())


_LANGUAGES = (
    "arabic",
    "chinese",
    "czech",
    "danish",
    "dutch",
    "english",
    "finnish",
    "french",
    "german",
    "greek",
    "hebrew",
    "hindi",
    "indonesian",
    "italian",
    "japanese",
    "korean",
    "mandarin",
    "norwegian",
    "polish",
    "portuguese",
    "romanian",
    "russian",
    "spanish",
    "swedish",
    "thai",
    "turkish",
    "ukrainian",
    "vietnamese",
)
# A target language after a preposition that ends the phrase: "into French:", "English to
# Korean:", "in Polish?", "in Spanish, German and Japanese". "The response to English King
# George" or "answer in Spanish" (which only sets the language of the answer) do not count.
_LANGUAGE_SET = frozenset(_LANGUAGES)
_LANGUAGE_PHRASE_ENDS = (" please", " and ", " or ")
_ANSWER_LANGUAGE_VERBS = (
    "answer",
    "respond",
    "reply",
    "speak",
    "talk",
    "chat",
    "always",
    "only",
    "written",
    "spoken",
    "published",
    "taught",
    "fluent",
)

# (category, markers) in priority order: the first category with a marker in the instruction
# wins. Markers are lowercase substrings; leading spaces stand in for word starts cheaply.
_RULE_PHRASES: tuple[tuple[Category, tuple[str, ...]], ...] = (
    (
        Category.TRANSLATION,
        (
            "translate",
            "a translator",
            "professional translator",
            "translation of",
            "translation to",
            "traduce",
            "traduis",
            "übersetze",
            "in english?",
            "mean in english",
            "how do you say",
            "how would i say",
            "how do i say",
            "localize these",
            "localise these",
            "auf englisch",
            "auf deutsch",
            "en anglais",
            "en français",
            "en inglés",
            "en español",
            "render this",
            *(f"{language} word for" for language in _LANGUAGES),
            # "Give me the Japanese for 'thank you'", "the Mandarin (simplified) for: ..."
            *(f"the {language} for" for language in _LANGUAGES),
            *(f"the {language} (" for language in _LANGUAGES),
            # Other languages: German, French, Spanish, Italian, Portuguese, Dutch, Polish,
            # Russian; then scripts written without spaces, matched as substrings (see _Markers).
            "übersetzen",
            "übersetzung",
            "ins englische",
            "ins deutsche",
            "traduire",
            "traduction",
            "traducir",
            "traducción",
            "al inglés",
            "al español",
            "traduci",
            "tradurre",
            "in inglese",
            "traduza",
            "traduzir",
            "tradução",
            "para o inglês",
            "vertaal",
            "vertaling",
            "przetłumacz",
            "na angielski",
            "переведи",
            "перевести",
            "перевод",
            "на английский",
            "訳して",
            "翻訳",
            "翻译",
            "翻譯",
            "译成",
            "번역",
            "अनुवाद",
            "übersetz*",
            "vertal*",
            "vertaal*",
            "tradu*",
            "tłumacz*",
            "przetłumacz*",
            "переведи*",
            "перевод*",
        ),
    ),
    (
        Category.SUMMARIZATION,
        (
            "summarize",
            "summarise",
            "summary of",
            "a summary",
            "summary in",
            "summary for",
            "one-line summary",
            "executive summary",
            "incident summaries",
            "tl;dr",
            "tldr",
            "key points",
            "key takeaways",
            "main points",
            "the gist",
            "condense",
            "in a nutshell",
            "sum up",
            "sums up",
            "short version",
            "digest of",
            "highlights only",
            "takeaways",
            "recap this",
            "recap of this",
            "boil it down",
            "boil this",
            "boil down",
            "brief overview",
            "an abstract",
            "a synopsis",
            "shorten these notes",
            "is this contract about",
            "is this document about",
            "is this article about",
            "is this email about",
            "synopsis of this",
            "synopsis of the",
            "zusammenfassen",
            "zusammenfassung",
            "fasse den",
            "fasse die",
            "fasse das",
            "fass den",
            "fass die",
            "fass das",
            "worum es",
            "résume",
            "résumer",
            "resume en",
            "resume la",
            "resume el",
            "resume este",
            "resume esta",
            "resúmeme",
            "un resumen",
            "riassumi",
            "riassunto",
            "resuma",
            "resumo",
            "vat samen",
            "samenvatting",
            "streść",
            "podsumuj",
            "перескажи",
            "кратко изложи",
            "要約",
            "まとめて",
            "总结",
            "摘要",
            "요약",
            "सारांश",
            "zusammenfass*",
            "resum*",
            "résum*",
            "riassum*",
            "samenvat*",
            "streszcz*",
            "podsumow*",
            "podsumuj*",
            "резюм*",
            "перескаж*",
        ),
    ),
    (
        Category.REWRITING,
        (
            "rewrite",
            "re-write",
            "rephrase",
            "paraphrase",
            "proofread",
            "reword",
            "fix the grammar",
            "fix grammar",
            "fix the typos",
            "fix typos",
            "correct the grammar",
            "grammar and spelling",
            "make it more",
            "make this more",
            "make this email",
            "make it shorter",
            "make it less",
            "more polite",
            "more professional",
            "more formal",
            "more concise",
            "shorten this",
            "polish this",
            "improve the wording",
            "edit this",
            "edit my",
            "simplify this",
            "into plain english",
            "tone down",
            "sound less",
            "sound more",
            "make this sound",
            "make it sound",
            "make it warmer",
            "friendlier",
            "reformulate",
            "tighten",
            "concisely",
            "correct my english",
            "correct my grammar",
            "more academic",
            "passive voice",
            "active voice",
            "turn these notes into",
            "more casual",
            "into a casual",
            "less formal",
            "turn these bullet",
            "clean up this",
            "clean up my",
            "phrasings",
            "other ways to say",
            "alternative wording",
            "shorter please",
            "shorter, please",
            "a bit firmer",
            "soften this",
            "soften the",
            "copy editor",
            "copy-edit",
            "copyedit",
            "simplify the wording",
            "simplify the language",
            "umformulieren",
            "formuliere",
            "umschreiben",
            "reformule",
            "reformuler",
            "réécris",
            "réécrire",
            "reescribe",
            "reformula",
            "riscrivi",
            "riformula",
            "reescreva",
            "herschrijf",
            "herformuleer",
            "przepisz",
            "перепиши",
            "перефразируй",
            "書き直して",
            "言い換え",
            "改写",
            "润色",
            "다시 써",
            "umformulier*",
            "umschreib*",
            "reformul*",
            "réécri*",
            "reescrib*",
            "riscriv*",
            "reescrev*",
            "herschrijf*",
            "herformul*",
            "przepisz*",
            "перепиш*",
            "перефраз*",
            "più formale",
            "più professionale",
            "más formal",
            "más profesional",
            "plus formel",
            "plus professionnel",
            "plus poli",
            "formeller",
            "höflicher",
            "freundlicher",
        ),
    ),
    (
        Category.EXTRACTION,
        (
            "extract",
            "pull out all",
            "pull out every",
            "pull the",
            "identify all",
            "identify every",
            "list every",
            "list each",
            "give me just the",
            "list all the names",
            "list all the people",
            "named entities",
            "parse the following",
            "parse this",
            "fill in the json",
            "fill in this form",
            "as json",
            "into json",
            "in json format",
            "json object with",
            "return json with",
            "into structured",
            "fields:",
            "out of this message",
            "out of this email",
            "out of this text",
            "out of this note",
            "out of this document",
            "grab the",
            "find all the",
            "find every",
            "mentioned in this",
            "requested in this",
            "a table with columns",
            "into a table",
            "as a json",
            "json array",
            "extrahiere",
            "extrahieren",
            "extrais",
            "extraire",
            "extrae",
            "extraer",
            "estrai",
            "extraia",
            "extrair",
            "wyodrębnij",
            "извлеки",
            "抽出",
            "抜き出して",
            "提取",
            "抽取",
            "추출",
            "extrahier*",
            "extrai*",
            "extrae*",
            "estrai*",
            "estrarre*",
            "sácame",
            "wyodrębni*",
            "извлек*",
            "извлеч*",
            "as a table",
            "column table",
        ),
    ),
    (
        Category.CLASSIFICATION,
        (
            "classify",
            "categorize",
            "categorise",
            "sentiment",
            "label the",
            "label this",
            "label each",
            "the label only",
            "only the label",
            "which category",
            "which department",
            "is this spam",
            "is it spam",
            "spam or ham",
            "spam filter",
            "positive or negative",
            "positive, negative",
            "toxic or not",
            "content moderation",
            "intent of",
            "tag this",
            "tag each",
            "yes or no",
            "category name",
            "the right queue",
            "with one of:",
            "which topic",
            "what language is this",
            "detect whether",
            # Sorting items into named groups: "Put each of these into the bucket 'fruit', ..."
            "into the bucket",
            "into buckets",
            "which bucket",
            "put each",
            "sort each",
            "sort these into",
            "group these into",
            "possible labels",
            "allowed labels",
            "labels:",
            "clickbait",
            "need a human",
            # A verdict on a quoted text: "Is this sentence sarcastic? '...'"
            "is this sentence",
            "is the following sentence",
            "is this message",
            "is this review",
            "is this comment",
            "what genre",
            "which genre",
            "klassifiziere",
            "klassifizieren",
            "kategorisiere",
            "kategorisieren",
            "positiv oder negativ",
            "classifie",
            "catégorise",
            "positif ou négatif",
            "positive ou négative",
            "clasifica",
            "categoriza",
            "positiva o negativa",
            "positivo o negativo",
            "classifica",
            "classifique",
            "positivo ou negativo",
            "classificeer",
            "sklasyfikuj",
            "классифицируй",
            "分類",
            "分类",
            "분류",
            "moderation",
            "klassifizier*",
            "kategorisier*",
            "classifi*",
            "clasific*",
            "categori*",
            "catégori*",
            "sklasyfik*",
            "классифиц*",
            "positiv, negativ",
            "positief of negatief",
        ),
    ),
    (
        Category.REASONING,
        (
            "reason carefully",
            "explain step by step",
            "reason step by step",
            "reason about",
            "think it through",
            "think through",
            "the trade-offs",
            "the tradeoffs",
            "pros and cons",
            "weigh both sides",
            "justify your",
            "? justify",
            "logical fallacy",
            "logical fallacies",
            "which conclusion",
            "how would you tell",
            "how could i test",
            "how would you test",
            "how to decide",
            "help me decide",
            "give a recommendation",
            "give a decision",
            "work it out",
            "worked it out",
            "help me think about",
            "help me think through",
            "argument valid",
            "is the following argument",
            "consider both sides",
            "lay out the argument",
            "second-order effects",
            "what would you choose",
            "logic puzzle",
            "this riddle",
            "a riddle",
            # Ranking and comparing options, with the case for the order.
            "rank these",
            "rank the",
            "rank them",
            "order these by",
            "from most to least",
            "from least to most",
            "from best to worst",
            "prioritize these",
            "prioritise these",
            "which is the better",
            "which is better",
            "which you find more",
            "argue it out",
            "what can we conclude",
            "what could explain",
            "which explanation",
            # Classic puzzles: liars and truth-tellers, river crossings.
            "always lies",
            "always tell the truth",
            "knaves",
            "cross a river",
            "exactly one of these",
            "premise 1",
            "valid or not",
            "valid or invalid",
            "poke holes",
            "devil's advocate",
            "smarter bet",
            "razona",
            "pros y contras",
            "pros y los contras",
            "ventajas y desventajas",
            "vor- und nachteile",
            "avantages et inconvénients",
            "pro e contro",
            "плюсы и минусы",
            "メリットとデメリット",
            "优缺点",
            "利弊",
            "wrong with the reasoning",
            "flaw in the",
            "flaws in the",
            "this argument",
            "begründ*",
            "argumentier*",
        ),
    ),
    (
        # Programming asks that name no language or code symbol (those are ``has_code``).
        Category.CODE,
        (
            "implement a",
            "implement an",
            "time complexity",
            "space complexity",
            "big-o",
            "inner join",
            "left join",
            "typeerror",
            "select * from",
            "this query",
            "unit tests for",
            "unit test for",
            "-skript",
        ),
    ),
    (
        Category.MATH,
        (
            "least common multiple",
            "lowest common multiple",
            "greatest common divisor",
            "highest common factor",
            "prime factor",
            "square root of",
            "factorial of",
            "factorise",
            "factorize",
            "combien font",
            "combien fait",
            "berechne",
            "volumen einer",
            "calcule",
            "calcula",
            "calcola",
            "вычисли",
            "посчитай",
            "計算して",
            "计算",
            "berechn*",
            "calcul*",
            "calcol*",
            "oblicz*",
            "вычисл*",
            "посчита*",
            "resuelv*",
            "résou*",
            "risolv*",
            "löse*",
            "wahrscheinlichkeit*",
            "probabilit*",
            "ecuaci*",
            "équation*",
            "gleichung*",
            "हल कीजिए",
            "हल करें",
        ),
    ),
    (
        # Retrieval-augmented question answering: the context comes with the question, often
        # in XML tags that read as code.
        Category.QA,
        (
            "using only the context",
            "based on the context",
            "based on the following context",
            "according to the context",
            "based on the documentation",
            "based on the document",
        ),
    ),
    (
        # Plans, lists and recommendations: real tasks that no other category names.
        Category.OTHER,
        (
            "itinerary",
            "packing list",
            "meal plan",
            "workout plan",
            "training plan",
            "study plan",
            "an agenda",
            "agenda for",
            "a checklist",
            "gift ideas",
            "quiz questions",
            "interview questions",
            "recommend five",
            "recommend three",
            "recommend some",
            "recommend a few",
            "packliste",
            "reiseplan",
        ),
    ),
)
_RULES = tuple((category, _Markers(phrases)) for category, phrases in _RULE_PHRASES)
# Asks for new imaginative text. Phrases rather than words: "poem" or "novel" alone also turn up
# in questions about literature, which are qa.
_CREATIVE_MARKERS = _Markers(
    (
        "a poem",
        "poem about",
        "poem for",
        "write a story",
        "tell me a story",
        "short story",
        "bedtime story",
        "continue the story",
        "story about",
        "song lyrics",
        "lyrics for",
        "lyrics about",
        "limerick",
        "haiku",
        "sonnet",
        "write a song",
        "rap verse",
        "wedding toast",
        "a toast for",
        "backstory",
        "dialogue between",
        "scene of dialogue",
        "fan fiction",
        "screenplay",
        "a script of",
        "a script where",
        "script for a",
        "fairy tale",
        "opening paragraph of a",
        "birthday message",
        "names for a",
        "names for my",
        "names for our",
        "product description",
        "a slogan",
        "a tagline",
        "a jingle",
        "a myth",
        "a fable",
        "a eulogy",
        "a ballad",
        "an ode",
        "a monologue",
        "a villanelle",
        "flash fiction",
        "picture book",
        "tongue twister",
        "a joke about",
        "tell me a joke",
        "love letter",
        "letter from a",
        "micro-story",
        "microstory",
        "horror story",
        "ghost story",
        "a song",
        "silly song",
        "song about",
        "plot ideas",
        "story ideas",
        "plot for a",
        "jingle for",
        "villain monologue",
        "monologue for",
        "gedicht",
        "poème",
        "poema",
        "poesia",
        "стихотворение",
        "詩を",
        "写一首诗",
        "brand names",
        "possible names",
        "name ideas",
        "a toast",
        "the narrator of",
        "interactive fiction",
        "gedicht*",
        "poème*",
        "poema*",
        "poesi*",
        "стих*",
    )
)
_CREATIVE_VERBS = _Markers(
    (
        "write",
        "compose",
        "tell me",
        "give me",
        "create",
        "draft",
        "invent",
        "come up with",
        "continue",
        "need",
        "make up",
        "generate",
        "pitch",
        "schreib",
        "schreibe",
        "écris",
        "escribe",
        "scrivi",
        "escreva",
        "напиши",
        "書いて",
        "写一",
        "schreib*",
        "écri*",
        "escrib*",
        "scriv*",
        "escrev*",
        "schrijf*",
        "napisz*",
        "напиш*",
    )
)
_GREETINGS = (
    "hi",
    "hello",
    "hey",
    "thanks",
    "thank you",
    "good morning",
    "good evening",
    "how are you",
    "what's up",
    "ok",
    "okay",
    "cool",
    "great",
    "bye",
    "hallo",
    "coucou",
    "salut",
    "bonjour",
    "hola",
    "ciao",
    "olá",
    "привет",
)
# Conversation with the assistant itself rather than a task: a persona in the system prompt, or
# the user talking to it, about it, or about their own day.
_PERSONA_MARKERS = _Markers(("companion", "friendly assistant", "chatbot", "conversational", "chat partner"))
_TALK_MARKERS = _Markers(
    (
        "how's your day",
        "how is your day",
        "do you prefer",
        "do you like",
        "would you eat",
        "what do you think",
        "who are you?",
        "about yourself",
        "tell me something",
        "i'm bored",
        "your favourite",
        "your favorite",
        "have you ever",
        "nice talking",
        "see you tomorrow",
        "just talk",
        "lol",
        "haha",
        "ugh",
        # Questions about the assistant itself.
        "are you a real",
        "are you real",
        "are you human",
        "are you a person",
        "are you a bot",
        "are you a robot",
        "do you ever",
        "wie geht's",
        "wie geht es dir",
        "ça va",
        "qué tal",
        "come stai",
        "tudo bem",
        "как дела",
    )
)
# Starts of a turn where the user tells rather than asks: "I finally finished...", "My dog...".
# "Hi! Thanks a lot for your help yesterday, talk soon.": longer than small talk, still talk.
_GREETING_STARTS = tuple(
    greeting + separator
    for greeting in (
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank you",
        "good morning",
        "good evening",
        "good night",
    )
    for separator in (" ", "!", ",", ".")
)
_PERSONAL_STARTS = ("i ", "i'm ", "i've ", "i’m ", "my ", "we ", "we're ")
_QUESTION_STARTS = (
    "what",
    "who",
    "whom",
    "which",
    "when",
    "where",
    "why",
    "how",
    "is ",
    "are ",
    "can ",
    "do ",
    "does ",
    "did ",
    "should ",
    "explain",
    "describe",
    "tell me about",
    "define",
)
# Multiplication, addition, powers and spaced division between digits; not "-" or "/" alone,
# which write dates ("2024-03-01", "12/03").
_OPERATORS = ("*", "+", "^", "×", "÷", "/")
_OPERATION = re.compile(r"\d ?[*×÷+^] ?\(?\d|\d / \d")
# "17% of 2350", "15% of $84", "7.5% sales tax on $240".
_PERCENTAGE_OF = re.compile(r"\d% (?:of|[a-z ]{0,20}? on) [$€£]?\d")
# Instructions sit at the start or end of a turn; a rule marker deep inside pasted material is
# more likely quoted content than an instruction.
_HEAD_CHARS = 300
_TAIL_CHARS = 200
# The first two options of a multiple-choice item, one per line.
_CHOICE_LINES = (("\na. ", "\nb. "), ("\na) ", "\nb) "), ("\n(a) ", "\n(b) "))
#: A last user turn shorter than this with no other signal reads as conversation, not a task.
CHAT_MAX_CHARS = 60
#: A personal statement longer than this is more likely the set-up of a task than small talk.
_STATEMENT_MAX_CHARS = 160


def instruction_excerpt(
    lowered_user: str, lowered_system: str, *, words: frozenset[str] | None = None
) -> Excerpt:
    """The part of a turn where rules look: the head and tail of the user text, the system head.

    ``words``: the words of the whole of both texts when the caller has them (a superset of the
    excerpt's serves as well, and saves splitting the excerpt again).
    """
    if len(lowered_user) > _HEAD_CHARS + _TAIL_CHARS:
        lowered_user = lowered_user[:_HEAD_CHARS] + " " + lowered_user[-_TAIL_CHARS:]
    text = lowered_user + " " + lowered_system[:_HEAD_CHARS]
    return Excerpt(text, words if words is not None else words_of(text))


def category_by_rules(excerpt: Excerpt, *, is_agentic: bool, has_code: bool) -> Category | None:
    """The category an explicit instruction or an agent's request shape implies, or None.

    ``is_agentic``: the request has the shape of an agent loop (several tools offered, or
    several tool calls already made), whatever its words say.
    """
    if is_agentic:
        return Category.AGENTIC
    for category, markers in _RULES:
        if markers.found_in(excerpt.text, excerpt.words) or (
            category is Category.TRANSLATION and _names_target_language(excerpt)
        ):
            # "Translate this Python to Rust" is a code task: code beats translation, rewriting
            # and the reasoning markers ("what are the trade-offs of this schema?").
            if has_code and category in (Category.TRANSLATION, Category.REWRITING, Category.REASONING):
                return Category.CODE
            if category is Category.TRANSLATION and "plain english" in excerpt.text:
                # "Translate this legalese into plain English": same language, simpler words.
                return Category.REWRITING
            return category
    if _has_percentage_of_number(excerpt.text) or _is_conversion(excerpt.text):
        return Category.MATH
    return None


def _names_target_language(excerpt: Excerpt) -> bool:
    """Whether ``excerpt`` names a language to translate into: a language after "in", "into" or
    "to" that ends the phrase, not after a verb that only sets the answer's language."""
    return any(_names_language(excerpt.text, language) for language in _LANGUAGE_SET & excerpt.words)


def _names_language(excerpt: str, language: str) -> bool:
    """:func:`_names_target_language` for one language that ``excerpt`` mentions."""
    for marker in (f" in {language}", f" into {language}", f" to {language}"):
        start = excerpt.find(marker)
        while start >= 0:
            end = start + len(marker)
            after = excerpt[end : end + 1]
            # "Turn this into Spanish for our customers": "into" a language is a translation
            # whatever follows; "in" and "to" need the phrase to end there.
            ends_phrase = (
                marker.startswith(" into ")
                or not after
                or not (after.isalnum() or after.isspace())
                or excerpt.startswith(_LANGUAGE_PHRASE_ENDS, end)
            )
            if ends_phrase and not excerpt[:start].endswith(_ANSWER_LANGUAGE_VERBS):
                return True
            start = excerpt.find(marker, start + 1)
    return False


def has_operation(lowered_user: str) -> bool:
    """``4321 * 8765``, ``2^10 + 3^5``, ``342 / 3``: an arithmetic operation on numbers, which the
    classifier, fitted on word problems, often misses when it stands alone."""
    head = lowered_user[:_HEAD_CHARS]
    # Most turns hold no operator at all: six substring scans are cheaper than the regex.
    return any(operator in head for operator in _OPERATORS) and _OPERATION.search(head) is not None


def _has_percentage_of_number(excerpt: str) -> bool:
    """``17% of 2350``, ``15% of $84``, ``7.5% sales tax on $240``: a percentage of a number to
    work out (after the other rules, so that "61% of 48.2m" in a report to summarize stays a
    summary)."""
    return "% " in excerpt and _PERCENTAGE_OF.search(excerpt) is not None


def _is_conversion(excerpt: str) -> bool:
    """``Convert 72 km/h to metres per second``: a quantity to convert."""
    return excerpt.startswith("convert ") and excerpt[8:9].isdigit()


def is_creative_ask(excerpt: Excerpt) -> bool:
    """Whether the instruction asks for a poem, a story, lyrics, a toast, names, ...: a creative
    form and a verb that asks for one ("the story about Abraham Lincoln" in a question is not)."""
    return _CREATIVE_MARKERS.found_in(excerpt.text, excerpt.words) and _CREATIVE_VERBS.found_in(
        excerpt.text, excerpt.words
    )


def is_chatter(lowered_user: str) -> bool:
    """Whether the last user turn is short small talk ("hi", "thanks!", "how are you?")."""
    text = lowered_user.strip().rstrip("!.?").strip()
    if len(text) > CHAT_MAX_CHARS:
        return False
    return any(text == g or text.startswith((g + " ", g + ",")) for g in _GREETINGS)


def is_conversational(lowered_user: str, lowered_system: str) -> bool:
    """Whether the turn talks with the assistant (a companion persona, "what do you think",
    "I finally finished my first marathon!!") rather than hands it a task."""
    system = lowered_system[:_HEAD_CHARS]
    if _PERSONA_MARKERS.found_in(system, words_of(system)):
        return True
    text = lowered_user.strip()
    if len(text) > _STATEMENT_MAX_CHARS:
        return False
    if _TALK_MARKERS.found_in(text, words_of(text)):
        return True
    return text.startswith(_PERSONAL_STARTS + _GREETING_STARTS) and "?" not in text


def is_question(lowered_user: str) -> bool:
    """Whether the turn asks something: a question mark, a question or "explain" opening, a quiz
    item ("Question: ...", "... Answer:") or a multiple-choice one ("The spinal canal is\nA.
    caudal\nB. dorsal ...")."""
    text = lowered_user.strip()
    return (
        "?" in text[:_HEAD_CHARS]
        or "?" in text[-_TAIL_CHARS:]
        or text.startswith(_QUESTION_STARTS)
        or "question:" in text
        or text.endswith("answer:")
        or any(first in text and second in text for first, second in _CHOICE_LINES)
    )
