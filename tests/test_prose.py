"""The chapters' prose never repeats a measured number by hand: ratios and percentages are glued.

A number that an executed cell prints (a speed-up, a share of tokens, a count of occurrences) drifts
away from the prose that quotes it as soon as the code, the data or the machine changes. So the
prose of a chapter takes such numbers from the cell with myst-nb's ``glue`` (``glue("key", value,
display=False)`` in the cell, ``{glue:text}`key:.2f``` in the text). This test reads every
chapter's MyST source, keeps the prose (not code, not math, not glue roles, not inline code) and
fails on any ratio "2.4x", percentage "8%" or count "13 times" written out, or a vague stand-in
for a measured ratio ("several times faster", "three to four times", "a few percent"), except those
of the allow-list below: numbers that *define* something (a split, a hyperparameter, a quoted definition),
one entry each with its reason. It also checks that every glued key a chapter's prose uses is
glued by one of that chapter's cells, once.

Cheap (no execution): it runs in the fast suite.
"""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "chapters").glob("*.md"))

# what a measured number looks like in prose: a ratio, a percentage, a count of times; and the
# vague stand-ins a reviewer found for measured ratios ("several times faster" where 2.6x was
# printed, "three to four times as fast" for 2.7x, "a few percent" for 8.0%)
MEASURED = re.compile(r"\d+(?:\.\d+)?x\b|\d+(?:\.\d+)?\s?%|\d+(?:[.,]\d+)? times\b"
                      r"|\bseveral(?:-fold| times)\b|\ba few per ?cent\b"
                      r"|\b(?:two|three|four|five|six|seven|eight|nine|ten) to \w+ times\b", re.IGNORECASE)

# (chapter stem or "*", regex over the prose with runs of whitespace made single spaces, reason)
ALLOWED = [
    ("*", r"\b(?:first|last|held-out|the) (?:90|10)%(?: of\b| is held out)|\bheld-out 10%",
     "the course's train/validation split (seqmx.data.split_train_valid, valid_fraction=0.1)"),
    ("seq2seq", r"10% of them, with all their translations",
     "the held-out fraction of English sentences, heldout_fraction=0.1 (seqmx.seq2seq.split_heldout)"),
    ("seq2seq", r"ground-truth inputs 75% of the time",
     "quotes note 003's definition of teacher_forcing_ratio=0.75"),
    ("bidirectional-rnn", r"a random 15% of the letters",
     "the masking rate of the masked-character task, a hyperparameter (seqmx.deep)"),
    ("gru", r"first 40% of the training text",
     "the size of a training slice, a hyperparameter"),
    ("rnn-concise", r"used 35 times",
     "num_steps = 35: each parameter is used once per time step, by definition"),
    ("language-models", r"history seen 5 times",
     "an exercise's given: the count whose Laplace mass the exercise asks for"),
]


def prose(text: str) -> str:
    """The prose of a MyST notebook: everything else blanked out, line numbers kept."""
    text = re.sub(r"\A---\n.*?\n---\n", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    lines, fence = [], None
    for line in text.split("\n"):
        stripped = line.strip()
        if fence:                                     # inside a code cell, literalinclude, code block
            if re.fullmatch(re.escape(fence) + r"\s*", stripped):
                fence = None
            lines.append("")
            continue
        m = re.match(r"(`{3,}|~{3,})", stripped)
        if m:
            fence = m.group(1)
            lines.append("")
            continue
        lines.append("" if re.match(r":[\w-]+:", stripped) else line)  # directive options (:label:)
    text = "\n".join(lines)

    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))

    for pattern in (r"\$\$.*?\$\$",                   # display math
                    r"\\begin\{(\w+\*?)\}.*?\\end\{\1\}",
                    r"(?<!\\)\$[^$\n]+?(?<!\\)\$",    # inline math
                    r"\{[\w:-]+\}`[^`]*`",            # roles: {glue:text}`key:.1%`, {ref}`...`
                    r"`[^`\n]*`",                     # inline code
                    r"<!--.*?-->"):
        text = re.sub(pattern, blank, text, flags=re.S)
    return text


def unglued_numbers(chapter: str, text: str) -> list[str]:
    """'line: match: context' for each measured-looking number of the prose not on the allow-list."""
    body = prose(text)
    flat = re.sub(r"\s", " ", body)                   # same offsets, one line
    allowed = [m.span() for stem, pattern, _ in ALLOWED if stem in ("*", chapter)
               for m in re.finditer(pattern.replace(" ", r"\s+"), flat)]
    found = []
    for m in MEASURED.finditer(body):
        if any(a <= m.start() and m.end() <= b for a, b in allowed):
            continue
        line = body.count("\n", 0, m.start()) + 1
        context = " ".join(flat[max(0, m.start() - 50):m.end() + 30].split())
        found.append(f"{chapter}.md:{line}: {m.group(0)!r} in '...{context}...'")
    return found


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_measured_numbers_in_prose_are_glued(path):
    found = unglued_numbers(path.stem, path.read_text())
    assert not found, ("numbers typed into the prose; glue them from the cell that measures them "
                       "(or, if they define something, add them to ALLOWED with the reason):\n"
                       + "\n".join(found))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_glued_key_is_glued_once_by_the_chapter(path):
    text = path.read_text()
    cells = "\n".join(re.findall(r"```\{code-cell\}[^\n]*\n(.*?)\n```", text, flags=re.S))
    glued = re.findall(r"""\bglue\(\s*["']([\w.-]+)["']""", cells)
    # keys made in a loop, glue(f"gap_{r}", ...): any key of that shape counts as glued
    patterns = [re.compile(re.sub(r"\\\{.*?\\\}", ".+", re.escape(key)))
                for key in re.findall(r"""\bglue\(\s*f["']([^"']+)["']""", cells)]
    used = {key.rsplit(":", 1)[0] if ":" in key else key
            for key in re.findall(r"\{glue(?::\w+)?\}`([^`]+)`", text)}
    assert not {k for k in glued if glued.count(k) > 1}, "a key glued twice (myst-nb warns, -W fails)"
    missing = {k for k in used - set(glued) if not any(p.fullmatch(k) for p in patterns)}
    assert not missing, f"glued in the prose but never by a cell: {sorted(missing)}"


# Prose of the chapters before the numbers were glued (text-data.md and rnn-scratch.md of commit
# 6e8327a): the check must find each of these numbers.
OLD_PROSE = """\
With `min_freq=0` (or 1, the same thing) every training word keeps its own
index, and still about 8% of the validation tokens are `<unk>`: words of the
last chapters that the first 90% of the book never uses.

* Whole sentences as examples need padding and masks. On PTB, random
  minibatches of 32 sentences are about half padding; sorting by length
  (bucketing) brings that below 1%.

the RNN is 2.7x as fast, and the Gluon LSTM processes 3 times as many tokens

The Gluon layer trains several times faster than the scratch model, the RNN is
three to four times as fast as the gated models, and only a few percent of its
English words are unknown.
"""


def test_the_check_fails_on_the_old_prose():
    found = unglued_numbers("text-data", OLD_PROSE)
    assert [f.split(": ")[1].split(" in ")[0] for f in found] == [
        "'8%'", "'1%'", "'2.7x'", "'3 times'", "'several times'", "'three to four times'", "'a few percent'"], found


def test_the_check_skips_code_math_glue_and_inline_code():
    text = """\
```{code-cell} ipython3
print(f"{ratio:.1f}x faster, 50% off, 3 times")
```

Math $0.9^{10} \\approx 35\\%$ and

$$
p = 50\\%
$$

a role {glue:text}`speedup:.1f` x, code `12x`, and a {ref}`sec-3x` reference.
"""
    assert unglued_numbers("text-data", text) == []
