"""Categories of hand-written prompts: the keyword rules, the request-shape rules, the model."""

from __future__ import annotations

import pytest

from modelpilot.proxy.features import Category, extract_features
from tests.proxy.features.bodies import body, user


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("Translate 'good morning, how did you sleep?' into French.", Category.TRANSLATION),
        ("How do you say 'where is the train station' in German?", Category.TRANSLATION),
        (
            "Please summarize the following article in three bullet points:\n\nThe council met on...",
            Category.SUMMARIZATION,
        ),
        (
            "Meeting notes: we agreed to ship on Friday and hire two people.\n\nTL;DR please",
            Category.SUMMARIZATION,
        ),
        (
            "Rewrite this paragraph so it sounds more professional: hey guys, the thing is broke again",
            Category.REWRITING,
        ),
        ("Proofread my cover letter: I am writting to apply for the position...", Category.REWRITING),
        (
            "Extract every person's name and date from this email and return them as JSON: ...",
            Category.EXTRACTION,
        ),
        (
            "Classify the sentiment of this review as positive or negative: the battery died in a day.",
            Category.CLASSIFICATION,
        ),
        (
            "Which category does this support ticket belong to: billing, login or shipping?",
            Category.CLASSIFICATION,
        ),
        ("Translate this Python function to Rust: def add(a, b): return a + b", Category.CODE),
        ("hi!", Category.CHAT),
        ("thanks, that helps", Category.CHAT),
    ],
)
def test_rule_categories(prompt: str, expected: Category) -> None:
    assert extract_features(body(user(prompt))).category is expected


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        (
            "Write a Python function that reverses a singly linked list in place and explain its complexity.",
            Category.CODE,
        ),
        (
            "My React component re-renders forever when I call setState inside useEffect. How do I fix it?",
            Category.CODE,
        ),
        (
            "A train travels 120 km in 1.5 hours and then 80 km in 1 hour. What is its average speed in km/h?",
            Category.MATH,
        ),
        ("Find all real x such that x^2 - 5x + 6 = 0.", Category.MATH),
        ("Write a short poem about autumn leaves falling on a quiet lake.", Category.CREATIVE_WRITING),
        ("Write a story about a lighthouse keeper who befriends a whale.", Category.CREATIVE_WRITING),
        ("Which organ produces insulin in the human body?", Category.QA),
    ],
)
def test_learned_categories(prompt: str, expected: Category) -> None:
    assert extract_features(body(user(prompt))).category is expected


def test_agentic_from_tool_results_and_from_agent_harness_shape() -> None:
    tools = [{"name": n, "input_schema": {"type": "object"}} for n in ("read", "write", "bash")]
    assert (
        extract_features(body(user("Fix the failing test in src/app.py"), tools=tools)).category
        is Category.AGENTIC
    )
    one_tool = tools[:1]
    history = [
        user("Look up the order"),
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "read", "input": {}}]},
        user([{"type": "tool_result", "tool_use_id": "t", "content": "order 42: shipped"}]),
    ]
    assert extract_features(body(*history, tools=one_tool)).category is Category.AGENTIC


def test_forced_single_tool_reads_as_extraction() -> None:
    tools = [{"name": "record_invoice", "input_schema": {"type": "object"}}]
    f = extract_features(
        body(
            user("ACME Corp, invoice 1142, due 2024-03-01, total $1,200"),
            tools=tools,
            tool_choice={"type": "tool", "name": "record_invoice"},
        )
    )
    assert f.category is Category.EXTRACTION


def test_code_and_math_flags() -> None:
    code = extract_features(body(user("```js\nconst x = () => 1;\n```\nwhy does this fail?")))
    assert code.has_code and not code.has_math
    maths = extract_features(body(user("Compute the integral of x^2 from 0 to 3.")))
    assert maths.has_math
    neither = extract_features(body(user("What is a good name for a golden retriever puppy?")))
    assert not (neither.has_code or neither.has_math)


def test_rules_ignore_a_keyword_buried_inside_a_long_document() -> None:
    document = "intro " * 300 + "the committee asked staff to summarize the findings " + "more words " * 300
    f = extract_features(body(user(document + "\nWrite a haiku inspired by this text.")))
    assert f.category is not Category.SUMMARIZATION


def assistant(content: object) -> dict[str, object]:
    return {"role": "assistant", "content": content}


CALCULATOR = {
    "name": "calculator",
    "input_schema": {"type": "object", "properties": {"expression": {"type": "string"}}},
}


def test_a_conversation_is_chat_whatever_the_classifier_thinks() -> None:
    # The demo's chat script: the classifier alone called these turns creative writing.
    history = [user("I'm planning a weekend in Lisbon."), assistant("Lovely! Food, museums, or both?")]
    for turn in ("What should I eat there?", "And one museum worth it?"):
        f = extract_features(
            body(*history, user(turn), system="You are a friendly assistant. Keep answers short.")
        )
        assert f.category is Category.CHAT, turn
    assert (
        extract_features(body(user("I finally repainted the kitchen, took all weekend"))).category
        is Category.CHAT
    )
    assert extract_features(body(user("What do you think about rainy Sundays?"))).category is Category.CHAT


def test_a_conversation_that_turns_to_code_or_a_named_task_is_not_chat() -> None:
    history = [
        user("Write a Python function that adds two numbers."),
        assistant("def add(a, b):\n    return a + b"),
    ]
    assert (
        extract_features(body(*history, user("Add type hints and a docstring to that code"))).category
        is Category.CODE
    )
    assert (
        extract_features(body(*history, user("Now translate the docstring into French"))).category
        is Category.TRANSLATION
    )


def test_creative_writing_needs_an_ask_not_just_the_word() -> None:
    assert (
        extract_features(body(user("Tell me a story about a fox who learns to swim."))).category
        is Category.CREATIVE_WRITING
    )
    assert (
        extract_features(body(user("Compose a limerick about a forgetful wizard."))).category
        is Category.CREATIVE_WRITING
    )
    question = "In the novel, why does the story about the lighthouse matter to the narrator?"
    assert extract_features(body(user(question))).category is not Category.CREATIVE_WRITING
    assert (
        extract_features(body(user("Is a toaster oven cheaper to run than a stove?"))).category
        is not Category.CREATIVE_WRITING
    )


def test_one_tool_round_trip_for_a_calculation_is_math_not_agentic() -> None:
    # The demo's math script: a forced calculator, then its result.
    forced = body(
        user("What is 4321 * 8765?"), tools=[CALCULATOR], tool_choice={"type": "tool", "name": "calculator"}
    )
    assert extract_features(forced).category is Category.MATH
    call = {"type": "tool_use", "id": "toolu_1", "name": "calculator", "input": {"expression": "4321 * 8765"}}
    result = user([{"type": "tool_result", "tool_use_id": "toolu_1", "content": "37873565"}])
    loop = body(user("What is 4321 * 8765?"), assistant([call]), result, tools=[CALCULATOR])
    assert extract_features(loop).category is Category.MATH
    percent = body(
        user("What is 12% of 3150?"), tools=[CALCULATOR], tool_choice={"type": "tool", "name": "calculator"}
    )
    assert extract_features(percent).category is Category.MATH


def test_tools_with_a_task_no_rule_names_are_agentic() -> None:
    sql = {"name": "run_sql", "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}}
    # "how many" reads as math to the classifier; with a database tool and no number it is a lookup.
    assert (
        extract_features(body(user("How many invoices are still unpaid?"), tools=[sql])).category
        is Category.AGENTIC
    )
    lights = {"name": "set_thermostat", "input_schema": {"type": "object"}}
    assert (
        extract_features(body(user("Set the bedroom to something cosy"), tools=[lights])).category
        is Category.AGENTIC
    )


def test_a_language_named_as_the_answers_language_or_a_country_is_not_translation() -> None:
    f = extract_features(
        body(user("What are good hiking trails near Zurich?"), system="Always answer in German.")
    )
    assert f.category is not Category.TRANSLATION
    f = extract_features(body(user("Which treaty ceded the region to Germany after the war?")))
    assert f.category is not Category.TRANSLATION
    assert (
        extract_features(body(user("How would you write 'good luck' in Swedish?"))).category
        is Category.TRANSLATION
    )
    assert (
        extract_features(body(user("Put this into Dutch: the shop opens at nine."))).category
        is Category.TRANSLATION
    )


def test_room_for_a_label_only_reads_as_classification() -> None:
    f = extract_features(body(user('"Parcel arrived crushed and two mugs broken."'), max_tokens=5))
    assert f.category is Category.CLASSIFICATION


def test_markers_match_whole_words() -> None:
    # "lol" inside "lollipops", "who are you" inside "who are you calling".
    f = extract_features(body(user("Which sweets were called lollipops first, and where?")))
    assert f.category is not Category.CHAT
    f = extract_features(body(user("If you dial 911 in the US, who are you calling?")))
    assert f.category is not Category.CHAT


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        # The held-out misses of issue 14 item 7, each named by a cue rather than left to "qa".
        (
            "Rank these three plans by risk and explain the ranking: (a) launch everywhere, (b) one market first",
            Category.REASONING,
        ),
        ("Which is the better deal long-term, leasing or buying a car? Argue it out.", Category.REASONING),
        (
            "Put each of these into the bucket 'fruit', 'vegetable' or 'grain': quinoa, kale, mango",
            Category.CLASSIFICATION,
        ),
        ("Write a love letter from a cat to a sunbeam.", Category.CREATIVE_WRITING),
        ("Write a horror micro-story in exactly two sentences.", Category.CREATIVE_WRITING),
        (
            "Pitch me three plot ideas for a sci-fi short film set on a generation ship.",
            Category.CREATIVE_WRITING,
        ),
        ("Can you make up a silly song about brushing teeth for my 4-year-old?", Category.CREATIVE_WRITING),
        ("are you a real person?", Category.CHAT),
        ("Do you ever get tired of answering questions?", Category.CHAT),
        ("What's the difference between an inner join and a left join?", Category.CODE),
        ("What's 7.5% sales tax on $240?", Category.MATH),
        (
            'Turn this into Spanish for our Mexican customers: "Free shipping on orders over $50."',
            Category.TRANSLATION,
        ),
        # A question still gets "qa".
        ("Who painted the ceiling of the Sistine Chapel?", Category.QA),
    ],
)
def test_specific_cues_win_over_qa(prompt: str, expected: Category) -> None:
    assert extract_features(body(user(prompt))).category is expected


def test_a_schema_of_labels_only_reads_as_classification() -> None:
    labels = {
        "type": "object",
        "properties": {
            "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
            "confidence": {"type": "number"},
        },
    }
    review = user('Review: "The hotel was fine I guess, nothing special."')
    answer = {"format": {"type": "json_schema", "schema": labels}}
    assert extract_features(body(review, output_config=answer)).category is Category.CLASSIFICATION
    tool = {"name": "record_sentiment", "input_schema": labels}
    forced = body(review, tools=[tool], tool_choice={"type": "tool", "name": "record_sentiment"})
    assert extract_features(forced).category is Category.CLASSIFICATION
    # A free-text field takes the decision from the schema: the words decide. Since the category
    # model was refitted with the labelled live-shaped requests, a review to rate reads as
    # classification whatever else the schema asks; a record with no task in its words falls back
    # to the schema's extraction.
    fields = {"type": "object", "properties": {**labels["properties"], "hotel": {"type": "string"}}}
    answer = {"format": {"type": "json_schema", "schema": fields}}
    assert extract_features(body(review, output_config=answer)).category is Category.CLASSIFICATION
    record = user("Hotel Sacher, Vienna, stayed 2 nights in May, room 412.")
    assert extract_features(body(record, output_config=answer)).category is Category.EXTRACTION


def test_a_quiz_item_without_a_question_mark_is_still_a_question() -> None:
    item = "The anatomic location of the spinal canal is\nA. caudal\nB. dorsal\nC. frontal\nD. transverse\nAnswer:"
    assert extract_features(body(user(item), max_tokens=16)).category is Category.QA


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        (
            "Übersetzen Sie bitte diesen Absatz ins Englische: Die Lieferung kommt morgen.",
            Category.TRANSLATION,
        ),
        ("Traduis cette phrase en italien : le train part à midi.", Category.TRANSLATION),
        ("请把这句话翻译成德语：我们明天上午十点开会。", Category.TRANSLATION),
        ("次のメールを英語に訳してください：来週の打ち合わせは中止になりました。", Category.TRANSLATION),
        (
            "Resume en tres frases este informe: las ventas crecieron un 4 % en el trimestre...",
            Category.SUMMARIZATION,
        ),
        (
            "Kannst du die Zusammenfassung dieses Protokolls schreiben? Anwesend waren ...",
            Category.SUMMARIZATION,
        ),
        ("请总结这篇文章的要点：随着远程办公的普及，越来越多的公司开始……", Category.SUMMARIZATION),
        ("Réécris ce mail pour qu'il soit plus chaleureux : « Merci de me rappeler. »", Category.REWRITING),
        (
            "Extrae las fechas y los importes de esta factura: 3 de mayo, 120 €; 9 de mayo, 80 €.",
            Category.EXTRACTION,
        ),
        ("从这段文字中抽取所有公司名称：华为和小米在深圳发布了新手机。", Category.EXTRACTION),
        ("Klassifiziere diese Bewertung: „Der Akku hält kaum einen Tag.“", Category.CLASSIFICATION),
        ("Berechne die Fläche eines Kreises mit dem Radius 4 cm.", Category.MATH),
        ("Schreibe ein Gedicht über den ersten Schnee in Berlin.", Category.CREATIVE_WRITING),
        ("Put together a packing list for a week of sailing in Croatia.", Category.OTHER),
        ("Plan an itinerary for two days in Kyoto with kids.", Category.OTHER),
    ],
)
def test_tasks_named_in_other_languages_and_plans(prompt: str, expected: Category) -> None:
    assert extract_features(body(user(prompt))).category is expected


def test_phrases_of_unspaced_scripts_are_found_inside_words_and_only_in_non_ascii_text() -> None:
    # "번역해 줘" carries its ending in the same word as the phrase "번역" (translation).
    assert (
        extract_features(body(user("이 문장을 영어로 번역해 줘: 내일 만나요."))).category
        is Category.TRANSLATION
    )
    # The rules' phrases of other languages are whole words: "calculate" is not Spanish "calcula".
    assert (
        extract_features(body(user("Calculate the reading age of this text."))).category is not Category.MATH
    )


def test_greetings_in_other_languages_are_chat() -> None:
    for greeting in ("Hola, ¿qué tal todo?", "Salut ! Ça va ?", "Na, wie geht's dir heute?"):
        assert extract_features(body(user(greeting))).category is Category.CHAT, greeting


def test_a_task_told_as_news_in_the_first_turn_is_the_conversations_task() -> None:
    poem = [
        user("I want to write a poem for my sister's fortieth birthday."),
        assistant("Happy to help! Tell me something about her."),
    ]
    assert (
        extract_features(body(*poem, user("she runs marathons and bakes terrible bread"))).category
        is Category.CREATIVE_WRITING
    )
    derivative = [user("Differentiate f(x) = x^2 sin(x)"), assistant("f'(x) = 2x sin(x) + x^2 cos(x)")]
    assert extract_features(body(*derivative, user("and the integral?"))).category is Category.MATH


def test_a_shorter_version_continues_a_summary_but_rewrites_a_tagline() -> None:
    summary = [
        user("Summarize this for our newsletter in three sentences:\n\nThe library reopened after ..."),
        assistant("The library has reopened after a year of renovation ..."),
    ]
    assert extract_features(body(*summary, user("now make it shorter"))).category is Category.SUMMARIZATION
    tagline = [user("Write a tagline for my bike repair shop."), assistant("Back on the road by Friday.")]
    assert extract_features(body(*tagline, user("make it shorter"))).category is Category.REWRITING


def test_stems_of_other_languages_match_inflected_verbs_only_in_text_without_english() -> None:
    assert (
        extract_features(body(user("Kun je deze zin vertalen naar het Frans?"))).category
        is Category.TRANSLATION
    )
    assert (
        extract_features(body(user("¿Me traduces esto al francés? Gracias"))).category is Category.TRANSLATION
    )
    # English words around a stem-like word: "tradu*" is not looked for ("traduce" is English too).
    assert (
        extract_features(
            body(user("Why did the press traducing the senator matter to the election?"))
        ).category
        is not Category.TRANSLATION
    )
    plain = "Translate this clause into plain English for our tenants: 'The Lessee shall not assign ...'"
    assert extract_features(body(user(plain))).category is Category.REWRITING
