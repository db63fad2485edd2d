"""promptfoo's suites read as promptfoo reads them, and OpenAI Evals' samples: each construct on a small file
written here in promptfoo's documented form, then 13 of promptfoo's own examples (tests/data/promptfoo,
MIT: see its NOTICE). What is not kept is a line of the import report, never a silent change."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from lib.analysis.experiments import formats, promptfoo
from lib.analysis.experiments.cases import Check, InvalidTestSet
from lib.analysis.experiments.checks import evaluate
from lib.store.documents import load_yaml
from tests.paths import DATA

EXAMPLES = DATA / "promptfoo"


def upload(files: dict[str, str], as_zip: bool = False) -> formats.Imported:
    if as_zip:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in files.items():
                archive.writestr(name, text)
        return formats.read_upload([("suite.zip", buffer.getvalue())])
    return formats.read_upload([(name, text.encode()) for name, text in files.items()])


def one(text: str, name: str = "promptfooconfig.yaml") -> formats.Imported:
    return formats.read_upload([(name, text.encode())])


def said(imported: formats.Imported, *words: str) -> bool:
    """Whether one line of the report says all of `words`."""
    return any(all(word in line for word in words) for line in imported.report)


# --- the matrix: each test once per prompt --------------------------------------------------------------


def test_each_test_runs_once_per_prompt():
    imported = one(
        "prompts:\n  - 'Rephrase in {{language}}: {{body}}'\n  - 'Translate to {{language}}: {{body}}'\n"
        "tests:\n  - vars: {language: French, body: Hello}\n    assert: [{type: icontains, value: bonjour}]\n"
        "  - vars: {language: German, body: Hi}\n"
    )
    cases = imported.test_set.cases
    assert [c.id for c in cases] == ["test-1-p1", "test-1-p2", "test-2-p1", "test-2-p2"]
    assert [c.question for c in cases] == [
        "Rephrase in French: Hello",
        "Translate to French: Hello",
        "Rephrase in German: Hi",
        "Translate to German: Hi",
    ]
    assert cases[1].checks == (Check("contains", "bonjour", ignore_case=True),)
    assert "prompt 2: Translate to {{language}}: {{body}}" in cases[1].description
    assert said(imported, "2 prompts", "a case per prompt")


def test_a_prompt_is_text_unless_it_names_a_file():
    imported = one("prompts: ['What is 3.14?', 'Read notes.txt {{a}}']\ntests:\n  - vars: {a: now}\n")
    assert [c.question for c in imported.test_set.cases] == ["What is 3.14?", "Read notes.txt now"]


# --- file:// within one upload, never the server's disk -----------------------------------------------

SUITE = {
    "suite/promptfooconfig.yaml": (
        "description: Files\n"
        "prompts: [file://prompts/main.txt]\n"
        "defaultTest: file://shared/default.yaml\n"
        "tests:\n  - file://tests/*.yaml\n  - vars: {topic: file://vars/topic.txt, tone: dry}\n"
    ),
    "suite/prompts/main.txt": "Write about {{topic}} ({{tone}}).\n---\nA {{tone}} line on {{topic}}.\n",
    "suite/shared/default.yaml": "vars: {tone: warm}\nassert:\n  - type: not-icontains\n    value: as an AI\n",
    "suite/tests/a.yaml": "- vars: {topic: owls}\n  assert: [{type: contains, value: owl}]\n",
    "suite/tests/b.yaml": "- vars: {topic: bees}\n",
    "suite/vars/topic.txt": "the sea",
}


@pytest.mark.parametrize("as_zip", [True, False], ids=["zip", "files"])
def test_file_references_resolve_within_the_upload_relative_to_the_config(as_zip):
    files = SUITE if as_zip else {name.rsplit("/", 1)[-1]: text for name, text in SUITE.items()}
    if not as_zip:  # several files, no folders: a glob is not guessed (said below); each file by its name
        config = files["promptfooconfig.yaml"]
        with pytest.raises(InvalidTestSet, match=r"names 'tests/\*\.yaml', files in a folder: upload a zip"):
            upload(files)
        files["promptfooconfig.yaml"] = config.replace(
            "file://tests/*.yaml", "file://tests/a.yaml\n  - file://tests/b.yaml"
        )
    imported = upload(files, as_zip=as_zip)
    questions = {c.id: c.question for c in imported.test_set.cases}
    assert questions == {
        "test-1-p1": "Write about owls (warm).",
        "test-1-p2": "A warm line on owls.",
        "test-2-p1": "Write about bees (warm).",
        "test-2-p2": "A warm line on bees.",
        "test-3-p1": "Write about the sea (dry).",
        "test-3-p2": "A dry line on the sea.",
    }
    first = imported.test_set.cases[0]
    assert [c.describe() for c in first.checks] == ["not-icontains: as an AI", "contains: owl"]  # defaultTest's first
    assert imported.test_set.name == "suite" if as_zip else True
    if not as_zip:  # a browser's upload has no folders: each path matched by its name, and said so
        assert said(imported, "'prompts/main.txt'", "taken for it (same file name)")


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        ("file://missing.txt", "names the file 'missing.txt', which is not in the upload"),
        ("file:///etc/hostname", "an absolute path is never read (only the uploaded files are)"),
        ("file://../../../../etc/hostname", "names the file '../../../../etc/hostname', which is not in the upload"),
        ("file://README.md", "names the file 'README.md', which is not in the upload"),  # there is one on disk
    ],
)
def test_a_file_not_in_the_upload_is_named_and_never_read_from_disk(reference, reason):
    assert Path("README.md").exists()
    with pytest.raises(InvalidTestSet) as refused:
        upload({"promptfooconfig.yaml": f"prompts: ['{reference}']\ntests:\n  - vars: {{a: b}}\n", "x.txt": "x"})
    assert reason in str(refused.value)


def test_a_vars_only_csv_takes_its_prompt_from_the_config():
    imported = upload(
        {
            "promptfooconfig.yaml": "prompts: ['Answer {{name}}: \"{{question}}\"']\ntests: file://tests.csv\n",
            "tests.csv": "name,question\nBob,Where is my order?\nJane,Any discounts?\n",
        }
    )
    assert [c.question for c in imported.test_set.cases] == [
        'Answer Bob: "Where is my order?"',
        'Answer Jane: "Any discounts?"',
    ]
    assert [c.description for c in imported.test_set.cases] == ["Row #1", "Row #2"]  # promptfoo's own description


# --- YAML 1.2, as js-yaml reads it ---------------------------------------------------------------------


def test_yaml_is_read_as_yaml_1_2():
    data = load_yaml("a: Yes\nb: No\nc: on\nd: off\ne: y\nf: 0o17\ng: 017\nh: 1:30\ni: true\nj: 1e3\nk: 0x1F\nl: ~\n")
    assert data == {
        "a": "Yes",
        "b": "No",
        "c": "on",
        "d": "off",
        "e": "y",
        "f": 15,
        "g": 17,
        "h": "1:30",
        "i": True,
        "j": 1000.0,
        "k": 31,
        "l": None,
    }
    imported = one("prompts: ['Say {{body}} ({{n}}, {{big}})']\ntests:\n  - vars: {body: Yes, n: 017, big: 1e3}\n")
    assert imported.test_set.cases[0].question == "Say Yes (17, 1000)"


# --- nunjucks: variables and filters, in prompts and in assertion values ------------------------------


def test_nunjucks_renders_in_prompts_and_in_assertion_values():
    imported = one(
        "prompts: ['{{ topic | upper }}{% if tone %} in a {{ tone }} tone{% endif %}: {{ (style | load).length }}']\n"
        'tests:\n  - vars: {topic: tides, tone: calm, style: \'{"length": "short"}\'}\n'
        "    assert:\n      - type: llm-rubric\n        value: Explains {{topic}} accurately\n"
        "      - type: icontains\n        value: '{{ topic | capitalize }}'\n"
    )
    case = imported.test_set.cases[0]
    assert case.question == "TIDES in a calm tone: short"
    assert [c.describe() for c in case.checks] == ["llm-rubric: Explains tides accurately", "icontains: Tides"]
    assert imported.report == (
        "each question is asked in the chat's current session (promptfoo sends the prompt "
        "alone: the 'No history' variant does that)",
    )


def test_what_cannot_be_rendered_is_named():
    imported = one(
        "prompts: ['{{ body | allcaps }} for {{ missing }} {{ env.OPENAI_API_KEY }}']\n"
        "tests:\n  - vars: {body: hello}\n  - vars: {body: '{% for'}\n"
    )
    first, second = imported.test_set.cases
    assert first.question == "hello for  "  # promptfoo renders an undefined var empty
    assert second.question == "{% for for  "  # a var's text is inserted, never rendered itself
    assert said(imported, "test 1 (line 3)", "the filter 'allcaps' is not applied")
    assert said(imported, "{{missing}} has no value: rendered empty")
    assert said(imported, "{{ env.… }} renders empty: the server's environment is never read")
    broken = one("prompts: ['{% for x in %}']\ntests:\n  - vars: {a: b}\n")
    assert broken.test_set.cases[0].question == "{% for x in %}"
    assert said(broken, "the template could not be read", "kept as written")


def test_a_template_that_would_run_for_ever_is_stopped():
    imported = one(
        "prompts: ['{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x']\n"
        "tests:\n  - vars: {a: b}\n"
    )
    assert said(imported, "could not be rendered (it ran longer than 2 s)")


# --- defaultTest: from a file with its assertions; inline vars and options merged ------------------------


def test_default_test_vars_options_and_asserts_merge_into_each_test():
    imported = one(
        "prompts: ['{{greeting}}, {{name}}']\n"
        "defaultTest:\n  vars: {greeting: Hello, name: you}\n  options: {prefix: '[', suffix: ']'}\n"
        "  assert: [{type: not-contains, value: sorry}]\n"
        "tests:\n  - vars: {name: Ada}\n    assert: [{type: contains, value: Ada}]\n"
        "  - vars: {greeting: Hi}\n    options: {suffix: '!'}\n"
    )
    first, second = imported.test_set.cases
    assert first.question == "[Hello, Ada]" and second.question == "[Hi, you!"
    assert [c.describe() for c in first.checks] == ["not-contains: sorry", "contains: Ada"]
    assert [c.describe() for c in second.checks] == ["not-contains: sorry"]


# --- promptfoo's CSV columns --------------------------------------------------------------------------


def test_csv_special_columns():
    imported = upload(
        {
            "promptfooconfig.yaml": "prompts: ['Tell me about {{topic}}']\ntests: file://tests.csv\n",
            "tests.csv": (
                "topic,__expected,__expected2,__prefix,__suffix,__threshold,__metadata:category,__metadata:tags[],"
                "__description\n"
                'owls,"contains-any: hoot, owl","similar(0.9):Owls hoot at night",Q: , (brief),0.5,birds,'
                '"night,wise\\,old",Owl row\n'
            ),
        }
    )
    case = imported.test_set.cases[0]
    assert case.question == "Q: Tell me about owls (brief)"
    assert case.checks == (
        Check("contains-any", values=("hoot", "owl")),
        Check("similar", "Owls hoot at night", threshold=0.9),
    )
    assert case.description == "Owl row · category: birds · tags: night, wise,old"
    assert said(imported, "tests.csv row 1 (line 2)", "threshold 0.5 is not applied")
    assert said(imported, "metadata is kept in each case's description")
    assert said(imported, "similar: scored by word similarity", "no embedding model offline")


def test_a_standalone_promptfoo_csv_still_reads():
    text = "question,__expected,__expected2,__description\nCapital of France?,icontains:paris,grade: names it,geo\n"
    text += "Two plus two?,4,,maths\nHi?,levenshtein: hello,starts-with:Hi,x\n"
    imported = formats.read_upload([("tests.csv", text.encode())])
    first, second, third = imported.test_set.cases
    assert [c.describe() for c in first.checks] == ["icontains: paris", "llm-rubric:  names it"]
    assert second.checks == (Check("equals", "4"),)  # a plain expected value is an equality, as in promptfoo
    assert third.checks == (Check("starts-with", "Hi"),) and said(imported, "row 3", "type 'levenshtein' is not")
    assert not said(imported, "threshold")  # promptfoo's unread default threshold for starts-with is not news


# --- assertions as promptfoo reads them ----------------------------------------------------------------


def test_contains_any_and_all_split_on_commas_like_promptfoo():
    imported = one(
        "prompts: ['{{q}}']\ntests:\n  - vars: {q: a}\n    assert:\n"
        "      - {type: contains-any, value: 'Paris, Lyon'}\n"
        "      - {type: icontains-all, value: 'a, \"b, c\", d'}\n"
        "      - {type: contains-all, value: [x, y]}\n"
    )
    assert imported.test_set.cases[0].checks == (
        Check("contains-any", values=("Paris", "Lyon")),
        Check("contains-all", values=("a", "b, c", "d"), ignore_case=True),
        Check("contains-all", values=("x", "y")),
    )


def test_similar_keeps_its_threshold_and_is_never_equals():
    imported = one(
        "prompts: ['{{q}}']\ntests:\n  - vars: {q: a}\n    assert:\n"
        "      - {type: similar, value: 'Ahoy, world', threshold: 0.6}\n      - {type: similar, value: Ahoy}\n"
    )
    first, second = imported.test_set.cases[0].checks
    assert (first.kind, first.value, first.threshold) == ("similar", "Ahoy, world", 0.6)
    assert second.threshold == 0.75  # promptfoo's default
    assert evaluate(first, "Ahoy there, world").passed is True


def test_is_json_keeps_its_schema():
    imported = one(
        "prompts: ['{{item}}']\ntests:\n  - vars: {item: Banana}\n    assert:\n      - type: is-json\n        value:\n"
        "          required: [color]\n          type: object\n          properties: {color: {type: string}}\n"
    )
    check = imported.test_set.cases[0].checks[0]
    assert json.loads(check.value) == {
        "required": ["color"],
        "type": "object",
        "properties": {"color": {"type": "string"}},
    }
    assert evaluate(check, '{"color": "yellow"}').passed is True
    assert evaluate(check, '{"colour": "yellow"}').detail.endswith("'color' is a required property")


def test_a_list_var_is_one_case_per_value():
    imported = one(
        "prompts: ['{{greeting}} in {{language}}']\n"
        "tests:\n  - vars: {language: [French, German], greeting: [Hi, Bye], data: [1, 2]}\n"
    )
    cases = imported.test_set.cases
    assert [c.id for c in cases] == ["test-1.1", "test-1.2", "test-1.3", "test-1.4"]
    assert [c.question for c in cases] == ["Hi in French", "Bye in French", "Hi in German", "Bye in German"]
    assert cases[0].description == "language = French, greeting = Hi"


def test_every_construct_not_taken_is_reported_by_test_and_key():
    imported = one(
        "description: Beyond\nproviders: [openai:gpt-4.1]\nenv: {OPENAI_API_KEY: sk-secret}\nscenarios: []\n"
        "prompts: ['{{q}}']\n"
        "defaultTest:\n  options: {provider: openai:gpt-4.1-mini}\n  assert: [{type: cost, threshold: 0.01}]\n"
        "tests:\n  - vars: {q: a}\n    repeat: 3\n    options: {transform: output.trim()}\n    assert:\n"
        "      - {type: javascript, value: output.length > 1}\n"
        "      - {type: contains, value: a, weight: 2, metric: m}\n"
        "      - {type: contains-any, value: [a], transform: output.x}\n"
        "      - {type: not-equals, value: b}\n"
        "      - {type: llm-rubric, value: r, threshold: 0.8, provider: openai:gpt-4.1}\n"
    )
    case = imported.test_set.cases[0]
    assert [c.describe() for c in case.checks] == ["contains: a", "llm-rubric: r"]
    expected = [
        ("providers", "a run's models are its variants here"),
        ("env: never read",),
        ("config key 'scenarios'",),
        ("defaultTest", "options.provider is not applied"),
        ("defaultTest, assert 1", "type 'cost' is not supported"),
        ("test 1 (line 10)", "'repeat' is not applied"),
        ("test 1 (line 10)", "options.transform is not applied"),
        ("test 1 (line 10), assert 1", "type 'javascript' is not supported"),
        ("test 1 (line 10), assert 2", "contains: its 'metric' is not applied"),
        ("test 1 (line 10), assert 2", "contains: its 'weight' is not applied"),
        ("test 1 (line 10), assert 3", "its transform is not run"),
        ("test 1 (line 10), assert 4", "type 'not-equals' is not supported"),
        ("test 1 (line 10), assert 5", "its threshold is not applied"),
        ("test 1 (line 10), assert 5", "llm-rubric: its 'provider' is not applied"),
    ]
    for words in expected:
        assert said(imported, *words), words
    assert "sk-secret" not in json.dumps(imported.report)  # a key never lands in the report


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "defaultTest:\n  assert: 5\ntests:\n  - vars: {question: a}\n",
            "defaultTest (line 2): `assert` must be a list",
        ),
        ("defaultTest: hello\ntests: []\n", "defaultTest (line 1): must be a mapping"),
        ("prompts: [one, two]\ntests: []\n", "`tests` holds no test"),
        ("tests:\n  - vars: {a: x, b: y}\n", "test 1 (line 2): not imported: which var is the question?"),
        ("tests: file://tests.yaml\n", "names the file 'tests.yaml', which is not in the upload"),
        ("prompts: [file://a.py]\ntests:\n  - vars: {a: b}\n", "no prompt could be read: prompt 1: 'a.py' is a prompt"),
        ("prompts: [prompts.txt]\ntests:\n  - vars: {a: b}\n", "prompt 1 names the file 'prompts.txt', which is not"),
        ("prompts: [file://p.txt]\ntests:\n  - vars: {a: b}\n", "names the file 'p.txt', which is not in the upload"),
        (
            "prompts: ['{{a}}']\ntests:\n  - vars: {a: [1, 2]}\n    assert: 7\n",
            "test 1 (line 3): `assert` must be a list",
        ),
        (
            "prompts: ['{{a}}']\ntests:\n  - vars: {a: [x, y], b: [x, y, z], c: [" + "a," * 400 + "]}\n"
            "    assert: []\n",
            "the list vars make more than 2,000 combinations",
        ),
        ("prompts: ['{{a}}']\ntests:\n  - {$ref: '#/tests/0'}\n", "$ref nested more than 32 deep"),
        ("prompts: ['{{a}}']\ntests:\n  - {$ref: 'https://example.invalid/t.yaml'}\n", "$ref 'https://example.invalid"),
    ],
)
def test_a_config_that_cannot_be_read_is_refused_by_name(text, reason):
    with pytest.raises(InvalidTestSet) as refused:
        one(text)
    assert reason in str(refused.value)


def test_a_zip_is_bounded():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("promptfooconfig.yaml", "prompts: ['{{a}}']\ntests:\n  - vars: {a: b}\n")
        archive.writestr("big.txt", "0" * (formats.MAX_BYTES + 1))  # 5 MB of zeros: a few kilobytes zipped
    assert len(buffer.getvalue()) < 100_000
    with pytest.raises(InvalidTestSet, match=r"'suite\.zip' unpacks to more than 5 MB"):
        formats.read_upload([("suite.zip", buffer.getvalue())])
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as archive:
        for number in range(formats.MAX_FILES + 1):
            archive.writestr(f"f{number}.txt", "x")
    with pytest.raises(InvalidTestSet, match="holds 201 files: at most 200 are read"):
        formats.read_upload([("many.zip", many.getvalue())])
    with pytest.raises(InvalidTestSet, match=r"'x\.zip' is not a readable zip"):
        formats.read_upload([("x.zip", b"PK\x03\x04 not really")])


def test_two_configs_in_one_upload_are_refused_by_name():
    with pytest.raises(InvalidTestSet, match=r"configs found: a/promptfooconfig\.yaml, b/promptfooconfig\.yaml"):
        upload({"a/promptfooconfig.yaml": "tests: []", "b/promptfooconfig.yaml": "tests: []"}, as_zip=True)


def test_a_chat_prompt_is_a_conversation_and_its_last_user_message_the_question():
    imported = upload(
        {
            "promptfooconfig.yaml": "prompts: [file://chat.json]\ntests:\n  - vars: {name: Ada, city: Porto}\n",
            "chat.json": json.dumps(
                [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "I am {{name}} from {{city}}."},
                    {"role": "assistant", "content": "Hi {{name}}."},
                    {"role": "user", "content": "Where am I from?"},
                ]
            ),
        }
    )
    case = imported.test_set.cases[0]
    assert case.question == "Where am I from?" and case.conversation.source == "inline"
    assert case.conversation.system == "Be brief."
    assert [(m.role, m.content) for m in case.conversation.messages] == [
        ("user", "I am Ada from Porto."),
        ("assistant", "Hi Ada."),
    ]
    assert not said(imported, "current session")


def test_assertion_values_from_files_and_a_schema_written_as_yaml_text():
    imported = upload(
        {
            "promptfooconfig.yaml": (
                "prompts: ['{{q}}']\ntests:\n  - vars: {q: Colour?, topic: bananas}\n    assert:\n"
                "      - {type: llm-rubric, value: file://rubric.txt}\n      - {type: is-json, value: file://schema.yaml}\n"
                "      - {type: is-json, value: 'required: [b]'}\n      - {type: equals, value: file://check.py}\n"
            ),
            "rubric.txt": "Says what colour {{topic}} are.",
            "schema.yaml": "type: object\nrequired: [color]\n",
        }
    )
    rubric, schema, inline = imported.test_set.cases[0].checks
    assert rubric == Check("llm-rubric", "Says what colour bananas are.")
    assert json.loads(schema.value) == {"type": "object", "required": ["color"]}
    assert json.loads(inline.value) == {"required": ["b"]}
    assert said(imported, "test 1 (line 3), assert 4", "its value 'file://check.py' is a script: not run here")


def test_what_promptfoo_runs_as_code_is_named_not_run():
    imported = upload(
        {
            "promptfooconfig.yaml": (
                "prompts: [file://prompt.py, prompts.txt]\ntests:\n  - file://gen.py:make_tests\n"
                "  - vars: {q: a, img: file://cat.png}\n  - vars: {q: b, ctx: file://ctx.js}\n  - vars: {q: c}\n"
            ),
            "prompts.txt": "Q: {{q}}",
        }
    )
    assert [c.question for c in imported.test_set.cases] == ["Q: c"]  # `prompts.txt`, bare, is the file
    assert said(imported, "prompt 1", "'prompt.py' is a prompt function (a script): not run here")
    assert said(imported, "tests entry 1", "'gen.py:make_tests' generates tests (a script or a spreadsheet)")
    assert said(imported, "test 1 (line 4)", "var 'img' is 'file://cat.png', not text: the test is not imported")
    assert said(imported, "test 2 (line 5)", "var 'ctx' is 'file://ctx.js', a script: not run here")


def test_no_key_in_a_config_reaches_the_report():
    imported = one(
        "providers:\n  - id: openai:gpt-4.1\n    config: {apiKey: sk-live-abcdefghijklmnop}\n"
        "prompts: ['{{q}}']\ntests:\n  - vars: {q: a}\n    assert: [{type: nope, value: sk-live-abcdefghijklmnop}]\n"
        "    options: {apiKey: sk-live-abcdefghijklmnop}\n"
    )
    assert said(imported, "providers (openai:gpt-4.1)")
    assert "sk-live" not in json.dumps(imported.report)


def test_the_templates_of_one_import_have_a_time_budget(monkeypatch):
    monkeypatch.setattr(promptfoo, "MAX_RENDERING_S", 0.5)
    slow = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{{q}}"
    with pytest.raises(InvalidTestSet, match=r"the templates took more than 0\.5 s to render in all"):
        one(f"prompts: ['{slow}']\ntests:\n  - vars: {{q: a}}\n  - vars: {{q: b}}\n")


# --- promptfoo's own examples ---------------------------------------------------------------------------


def _example(folder: Path) -> formats.Imported:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(EXAMPLES).as_posix())
    return formats.read_upload([(f"{folder.name}.zip", buffer.getvalue())])


def test_at_least_11_of_13_of_promptfoos_own_examples_import():
    folders = sorted(p for p in EXAMPLES.iterdir() if p.is_dir())
    assert len(folders) == 13
    imported, refused = {}, {}
    for folder in folders:
        try:
            imported[folder.name] = _example(folder)
        except InvalidTestSet as problem:
            refused[folder.name] = str(problem)
    assert len(imported) >= 11, refused
    # The one refused names the file its config uses and promptfoo's repository does not ship.
    assert list(refused) == ["separate-test-configs"]
    assert "defaultTest's var 'system_message' names the file 'system_prompt.txt'" in refused["separate-test-configs"]
    counts = {name: len(result.test_set.cases) for name, result in imported.items()}
    assert counts == {
        "assistant-cli": 20,
        "csv-metadata": 3,
        "eval-custom-grader-csv": 8,
        "eval-customer-support-rubric": 8,
        "eval-self-grading": 4,
        "getting-started": 4,
        "gpt-3.5-vs-4": 15,
        "json-output": 2,
        "nunjucks-custom-filters": 4,
        "simple-cli": 8,
        "simple-csv": 8,
        "simple-test": 10,
    }
    simple = imported["simple-test"]
    first = simple.test_set.cases[0]
    assert first.question == "Rephrase this from English to Pirate: Yes"  # YAML 1.2: `Yes` is the text Yes
    assert [c.describe() for c in simple.test_set.case("test-5-p1").checks] == [
        "llm-rubric: Is spoken like a pirate",
        "icontains: arrr",  # the $ref to assertionTemplates, followed
    ]
    assert [c.kind for c in simple.test_set.case("test-4-p1").checks] == ["similar"]
    assert said(simple, "test 4 (line 27), assert 1", "type 'javascript' is not supported")
    assert said(simple, "test 4 (line 27), assert 2", "type 'python' is not supported")
    rubric = imported["eval-customer-support-rubric"].test_set.cases[0].checks[0]
    assert '"Me cobraron dos veces mi factura de octubre, quiero mi dinero de vuelta"' in rubric.value  # rendered
    assert "Tone: formal" in imported["simple-csv"].test_set.cases[0].question  # the `load` filter
    metadata = imported["csv-metadata"].test_set.cases[1]
    assert metadata.description == "Row #2 · category: science · tags: physics, advanced,theory, quantum"
    schema = imported["json-output"].test_set.case("test-2").checks[0]
    assert json.loads(schema.value)["required"] == ["color", "countries"]
    for name, result in imported.items():
        assert result.report, name  # every one of them has something not kept here, and says it


# --- OpenAI Evals: samples.jsonl --------------------------------------------------------------------------

SAMPLES = "\n".join(
    json.dumps(sample)
    for sample in [
        {
            "input": [
                {"role": "system", "content": "Answer with a city."},
                {"role": "user", "content": "Capital of France?"},
            ],
            "ideal": "Paris",
        },
        {
            "input": [
                {"role": "user", "content": "I am Ada."},
                {"role": "assistant", "content": "Hi Ada."},
                {"role": "user", "content": "My name?"},
            ],
            "ideal": ["Ada", "ADA"],
            "metadata": {"x": 1},
        },
    ]
)


def test_openai_evals_samples_become_cases():
    imported = formats.read_upload([("samples.jsonl", SAMPLES.encode())])
    first, second = imported.test_set.cases
    assert (first.id, first.question) == ("sample-1", "Capital of France?")
    assert first.conversation.system == "Answer with a city." and first.conversation.messages == ()
    assert first.checks == (Check("contains-any", values=("Paris",)),)
    assert [(m.role, m.content) for m in second.conversation.messages] == [
        ("user", "I am Ada."),
        ("assistant", "Hi Ada."),
    ]
    assert second.question == "My name?" and second.checks == (Check("contains-any", values=("Ada", "ADA")),)
    assert evaluate(second.checks[0], "Your name is Ada.").passed is True
    assert said(imported, "the samples' 'metadata' is not imported")
    assert said(imported, "`ideal` a contains-any check")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"input": [{"role": "assistant", "content": "x"}], "ideal": "a"}', "line 2: the last input message"),
        ('{"input": [{"role": "tool", "content": "x"}], "ideal": "a"}', "line 2: input message 1 has role 'tool'"),
        ('{"input": [], "ideal": "a"}', "line 2: `input` must be a list of chat messages"),
        ('{"input": [{"role": "user", "content": "x"}], "ideal": 5}', "line 2: `ideal` must be a text or a list"),
        ('{"input": [{"role": "user", "content": "x"}', "line 2: not valid JSON"),
    ],
)
def test_a_bad_sample_is_refused_with_its_line(line, reason):
    first = json.dumps({"input": [{"role": "user", "content": "Q"}], "ideal": "A"})
    with pytest.raises(InvalidTestSet) as refused:
        formats.read_upload([("samples.jsonl", f"{first}\n{line}\n".encode())])
    assert reason in str(refused.value)
