"""A seeded fictional pharmacology domain: documents, QA pairs and strict-format instructions.

Every later capability (fine-tuning, RAG, prompting, the study) is measured on this
domain, so it is built for clean measurement:

- names are invented from syllables under the seed, so no model has seen them;
- each fact is stated in exactly one document, and its answer (a name, or a number
  with its unit) appears verbatim there and in no other document, so exact match
  and retrieval hits are unambiguous;
- QA pairs are split by fact: an evaluation fact is in the documents but in no
  training QA pair and no training instruction;
- instructions demand a strict layout that `check_format` verifies.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from adaptlab.corpus.documents import write_jsonl
from adaptlab.corpus.synth_formats import FORMATS, check_format, make_spec, render, skeleton
from adaptlab.corpus.synth_templates import (
    CODAS,
    COLOUR,
    COMPANY_WORDS,
    COMPOUND_FIELDS,
    FILLERS,
    GENE_LETTERS,
    LAYOUTS,
    NAME_STYLES,
    ONSETS,
    PROMPTS,
    QUESTIONS,
    STATEMENTS,
    SYMPTOMS,
    TITLES,
    VOWELS,
)  # fmt: skip
from adaptlab.errors import UserError
from adaptlab.fileio import check_replaceable, publish_dir

__all__ = ["SynthDomain", "SynthSummary", "check_format", "generate", "synthesize"]

SYNTH_VERSION = 2  # 2: several instruction field sets per training compound
# parameter -> (lowest, highest, type). Up to 400 compounds: the n/4 interactions then
# never run out of the 100 reduced doses (100-199 mg) kept apart from standard doses (200-999 mg).
PARAMETERS: dict[str, tuple[float, float, type]] = {
    "seed": (0, 2**32 - 1, int),
    "n_compounds": (8, 400, int),
    "eval_fraction": (0.1, 0.5, float),
}
QUESTIONS_PER_TRAIN_FACT = 2  # paraphrases help a model store a fact; eval asks once
FIELDS_PER_INSTRUCTION = (2, 3)  # besides the compound's name
# Field sets per training compound and format: a model learns to copy the asked-for layout
# only from many different ones; evaluation asks once per compound and format.
INSTRUCTIONS_PER_TRAIN_COMPOUND = 8
INSTRUCTION_ELEMENT = "compound"
PRACTICE_SEEDS = 10_001  # far from the seeds a user evaluates (0, 1, ...)
FILES = ("facts.jsonl", "qa_train.jsonl", "qa_eval.jsonl", "instructions_train.jsonl", "instructions_eval.jsonl")


@dataclass(frozen=True)
class SynthSummary:
    """What was generated: the settings that reproduce it and the counts (`synth.json`)."""

    seed: int
    n_compounds: int
    eval_fraction: float
    documents: dict[str, int]
    facts: int
    facts_eval: int
    qa_train: int
    qa_eval: int
    instructions_train: int
    instructions_eval: int
    format_kinds: tuple[str, ...]
    version: int = SYNTH_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SynthDomain:
    """The whole domain in memory: document texts by id and the records of each file."""

    documents: dict[str, str]
    records: dict[str, list[dict[str, Any]]]  # file name -> records
    summary: SynthSummary


@dataclass(frozen=True)
class _Plan:
    """One document before it is written: its slots and the facts it must state."""

    id: str
    kind: str
    subject: str
    slots: dict[str, str]
    answers: dict[str, tuple[str, Any]]  # fact kind -> (answer as written, typed value)


# --- names -----------------------------------------------------------------------------


class _NameBook:
    """Hands out invented names that are unique and never a prefix of one another.

    Names are capitalised words, so one can occur inside other text only as a word
    prefix; ruling that out (also against the templates' own words) guarantees that a
    name-valued answer occurs only where its fact is stated.
    """

    def __init__(self, reserved: Iterable[str]) -> None:
        self._taken: set[str] = set()
        self._sorted = sorted(set(reserved))

    def new(self, rng: random.Random, role: str) -> str:
        n_syllables, endings = NAME_STYLES[role]
        for _ in range(10_000):
            name = _invent(rng, n_syllables, rng.choice(endings))
            if self._claim(name):
                return name
        raise RuntimeError(f"no free {role} name left")

    def _claim(self, name: str) -> bool:
        i = bisect_left(self._sorted, name)
        if i < len(self._sorted) and self._sorted[i].startswith(name):
            return False
        if any(name[:k] in self._taken for k in range(1, len(name))):
            return False
        self._taken.add(name)
        insort(self._sorted, name)
        return True


def _invent(rng: random.Random, n_syllables: int, ending: str) -> str:
    syllables = [rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(n_syllables - 1)]
    syllables.append(rng.choice(ONSETS) + rng.choice(VOWELS) + _last_coda(rng, ending))
    return ("".join(syllables) + ending).capitalize()


def _last_coda(rng: random.Random, ending: str) -> str:
    """A consonant before a vowel-initial ending, none before a consonant one: pronounceable joins."""
    if not ending:
        return rng.choice(CODAS)
    return rng.choice(CODAS[1:]) if ending[0] in VOWELS else ""


def _reserved_words() -> set[str]:
    """Every word of the fixed text, capitalised: a name may not be a prefix of one."""
    groups = [*STATEMENTS.values(), *FILLERS.values(), *COLOUR.values(), TITLES.values(), COMPANY_WORDS, SYMPTOMS]
    text = " ".join(s for group in groups for s in group)
    return {w.capitalize() for w in re.findall(r"[A-Za-z]+", text)}


def _unique(
    rng: random.Random, n: int, make: Callable[[random.Random], str], clash: Callable[[str, str], bool]
) -> list[str]:
    """`n` values from `make`, none clashing with an earlier one."""
    values: list[str] = []
    while len(values) < n:
        candidate = make(rng)
        if not any(clash(candidate, v) for v in values):
            values.append(candidate)
    return values


def _gene_symbol(rng: random.Random) -> str:
    return "".join(rng.choices(GENE_LETTERS, k=3)) + f"-{rng.randint(10, 99)}"


def _locus(rng: random.Random) -> str:
    return f"{rng.randint(1, 22)}{rng.choice('pq')}{rng.randint(11, 36)}.{rng.randint(1, 9)}"


def _nested(a: str, b: str) -> bool:
    """'7q21.3' sits inside '17q21.3': loci must not end one another."""
    return a.endswith(b) or b.endswith(a)


# --- the world: compounds, genes, interactions -----------------------------------------


def _colour(rng: random.Random, *keys: str) -> dict[str, str]:
    return {key: rng.choice(COLOUR[key]) for key in keys}


def _join(names: list[str], empty: str = "none so far") -> str:
    if not names:
        return empty
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _tenths(rng: random.Random, n: int) -> list[float]:
    """`n` distinct values 10.0-99.9: always two digits before the point, so none contains another."""
    return [v / 10 for v in rng.sample(range(100, 1000), n)]


def _alleles(rng: random.Random, compounds: list[str], genes: list[str]) -> dict[str, str]:
    """Each compound's contraindicated allele ('KRX-47*3'); every gene gets at least one compound."""
    order = rng.sample(compounds, len(compounds))
    alleles: dict[str, str] = {}
    for g, gene in enumerate(genes):
        members = order[g :: len(genes)]  # at most 6 per gene for 8-400 compounds; digits 2-9 suffice
        for compound, digit in zip(members, rng.sample(range(2, 10), len(members))):
            alleles[compound] = f"{gene}*{digit}"
    return alleles


def _interaction_pairs(rng: random.Random, compounds: list[str], doses: dict[str, int]) -> list[tuple[str, str]]:
    """(perpetrator, victim) pairs; the victim has the higher dose, so a reduced dose fits below it."""
    pairs = rng.sample(list(itertools.combinations(compounds, 2)), len(compounds) // 4)
    return [(a, b) if doses[a] < doses[b] else (b, a) for a, b in pairs]


def _plan(rng: random.Random, n_compounds: int) -> list[_Plan]:
    names = _NameBook(_reserved_words())
    compounds = [names.new(rng, "compound") for _ in range(n_compounds)]
    doses = dict(zip(compounds, rng.sample(range(200, 1000), n_compounds)))
    genes = _unique(rng, n_compounds // 4, _gene_symbol, str.__eq__)
    alleles = _alleles(rng, compounds, genes)
    pairs = _interaction_pairs(rng, compounds, doses)
    return [
        *_compound_plans(rng, names, compounds, doses, alleles, pairs),
        *_gene_plans(rng, names, genes, compounds, alleles),
        *_interaction_plans(rng, names, pairs, doses),
    ]


def _compound_plans(
    rng: random.Random,
    names: _NameBook,
    compounds: list[str],
    doses: dict[str, int],
    alleles: dict[str, str],
    pairs: list[tuple[str, str]],
) -> list[_Plan]:
    half_lives = _tenths(rng, len(compounds))
    plans = []
    for i, (name, half_life) in enumerate(zip(compounds, half_lives)):
        partners = [b if a == name else a for a, b in pairs if name in (a, b)]
        developer = f"{names.new(rng, 'company')} {rng.choice(COMPANY_WORDS)}"
        target = names.new(rng, "target")
        side_effect = f"{names.new(rng, 'eponym')} {rng.choice(SYMPTOMS)}"
        answers = {
            "compound.developer": (developer, developer),
            "compound.target": (target, target),
            "compound.dose": (f"{doses[name]} mg", doses[name]),
            "compound.half_life": (f"{half_life} hours", half_life),
            "compound.side_effect": (side_effect, side_effect),
            "compound.contraindication": (alleles[name], alleles[name]),
        }
        slots = {"s": name, "partners": _join(partners), **_colour(rng, "route", "indication", "mech", "freq", "organ")}
        plans.append(_Plan(f"compound-{i:04d}", "compound", name, slots, answers))
    return plans


def _gene_plans(
    rng: random.Random, names: _NameBook, genes: list[str], compounds: list[str], alleles: dict[str, str]
) -> list[_Plan]:
    loci = _unique(rng, len(genes), _locus, _nested)
    lengths = rng.sample(range(100, 1000), len(genes))
    plans = []
    for i, (gene, locus, length) in enumerate(zip(genes, loci, lengths)):
        protein = names.new(rng, "product")
        affected = [c for c in compounds if alleles[c].startswith(gene + "*")]
        answers = {
            "gene.locus": (locus, locus),
            "gene.protein": (protein, protein),
            "gene.length": (f"{length} amino acids", length),
        }
        slots = {"s": gene, "protein": protein, "compounds": _join(affected), **_colour(rng, "tissue", "process")}
        plans.append(_Plan(f"gene-{i:04d}", "gene", gene, slots, answers))
    return plans


def _interaction_plans(
    rng: random.Random, names: _NameBook, pairs: list[tuple[str, str]], doses: dict[str, int]
) -> list[_Plan]:
    rises = _tenths(rng, len(pairs))
    used = set(doses.values())
    plans = []
    for i, ((p, v), rise) in enumerate(zip(pairs, rises)):
        transporter = names.new(rng, "transporter")
        reduced = rng.choice([d for d in range(100, doses[v]) if d not in used])
        used.add(reduced)
        answers = {
            "interaction.transporter": (transporter, transporter),
            "interaction.exposure": (f"{rise} percent", rise),
            "interaction.dose_adjustment": (f"{reduced} mg", reduced),
        }
        slots = {"p": p, "v": v, **_colour(rng, "severity", "days")}
        plans.append(_Plan(f"interaction-{i:04d}", "interaction", f"{p} + {v}", slots, answers))
    return plans


# --- documents and facts -----------------------------------------------------------------


def _render(rng: random.Random, plan: _Plan) -> tuple[str, dict[str, str]]:
    """The document's text, and the sentence that states each of its facts."""
    statements: dict[str, str] = {}
    paragraphs = []
    for items in LAYOUTS[plan.kind]:
        sentences = []
        for item in items:
            if item in STATEMENTS:
                statements[item] = rng.choice(STATEMENTS[item]).format(a=plan.answers[item][0], **plan.slots)
                sentences.append(statements[item])
            else:
                sentences.append(rng.choice(FILLERS[item]).format(**plan.slots))
        paragraphs.append(" ".join(sentences))
    return "\n\n".join([TITLES[plan.kind].format(**plan.slots), *paragraphs]) + "\n", statements


def _fact_records(plans: list[_Plan], statements: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    facts = []
    for plan in plans:
        for kind, (answer, value) in plan.answers.items():
            facts.append(
                {
                    "id": f"fact-{len(facts):05d}",
                    "kind": kind,
                    "doc_id": plan.id,
                    "subject": plan.subject,
                    "answer": answer,
                    "value": value,
                    "statement": statements[plan.id][kind],
                }
            )
    return facts


def _verify_answers_local(documents: dict[str, str], facts: list[dict[str, Any]]) -> None:
    """The domain's core promise, checked on every run: an answer occurs only in its own document."""
    corpus = "\0".join(documents.values())
    for fact in facts:
        own = documents[fact["doc_id"]].count(fact["answer"])
        if own == 0 or corpus.count(fact["answer"]) != own:
            raise RuntimeError(f"bug: answer {fact['answer']!r} of {fact['id']} is not local to {fact['doc_id']}")


# --- splits, QA and instructions -----------------------------------------------------------


def _holdout_size(n: int, fraction: float) -> int:
    """At least one held out and one kept, so both sides of every split are exercised."""
    return max(1, min(n - 1, round(n * fraction)))


def _holdout(rng: random.Random, ids: list[str], fraction: float) -> set[str]:
    return set(rng.sample(ids, _holdout_size(len(ids), fraction)))


def _eval_facts(rng: random.Random, facts: list[dict[str, Any]], fraction: float) -> set[str]:
    """Held-out facts, drawn per fact kind so every kind is asked about in evaluation."""
    held: set[str] = set()
    for kind in STATEMENTS:
        held |= _holdout(rng, [f["id"] for f in facts if f["kind"] == kind], fraction)
    return held


def _qa(
    rng: random.Random, facts: list[dict[str, Any]], slots: dict[str, dict[str, str]], held: set[str]
) -> dict[str, list]:
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "eval": []}
    for fact in facts:
        split = "eval" if fact["id"] in held else "train"
        n_questions = 1 if split == "eval" else QUESTIONS_PER_TRAIN_FACT
        for template in rng.sample(QUESTIONS[fact["kind"]], n_questions):
            splits[split].append(
                {
                    "id": f"qa-{split}-{len(splits[split]):05d}",
                    "question": template.format(**slots[fact["doc_id"]]),
                    "answer": fact["answer"],
                    "doc_id": fact["doc_id"],
                    "fact": fact["id"],
                }
            )
    return splits


def _instruction(rng: random.Random, kind: str, plan: _Plan, fields: list[str], fact_ids: dict[str, str]) -> dict:
    """One prompt/response pair; `fields` start with "name", the rest report the compound's facts."""
    fact_kinds = [COMPOUND_FIELDS[f][0] for f in fields[1:]]
    values = {"name": plan.subject, **{f: plan.answers[k][1] for f, k in zip(fields[1:], fact_kinds)}}
    spec = make_spec(kind, {f: COMPOUND_FIELDS[f][1] for f in fields}, INSTRUCTION_ELEMENT)
    where = "; ".join(f"{FORMATS[kind].key(f)} is {COMPOUND_FIELDS[f][2]}" for f in fields)
    return {
        "prompt": rng.choice(PROMPTS[kind]).format(s=plan.subject, skeleton=skeleton(spec), where=where),
        "response": render(spec, values),
        "format": spec,
        "doc_id": plan.id,
        "facts": [fact_ids[k] for k in fact_kinds],
    }


def _instructions(
    rng: random.Random, plans: list[_Plan], facts: list[dict[str, Any]], held: set[str], fraction: float
) -> dict[str, list]:
    """Instructions per compound and format (several field sets for training compounds, one for
    evaluation ones); eval compounds are never in train instructions,
    and train instructions only report training facts, so no evaluation answer leaks."""
    compounds = [p for p in plans if p.kind == "compound"]
    eval_docs = _holdout(rng, [p.id for p in compounds], fraction)
    fact_ids_by_doc: dict[str, dict[str, str]] = {}
    for fact in facts:
        fact_ids_by_doc.setdefault(fact["doc_id"], {})[fact["kind"]] = fact["id"]
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "eval": []}
    for plan in compounds:
        split = "eval" if plan.id in eval_docs else "train"
        fact_ids = fact_ids_by_doc[plan.id]
        usable = [f for f, (k, _, _) in COMPOUND_FIELDS.items() if k and (split == "eval" or fact_ids[k] not in held)]
        variants = 1 if split == "eval" else INSTRUCTIONS_PER_TRAIN_COMPOUND
        for kind in FORMATS:
            seen: set[tuple[str, ...]] = set()
            for _ in range(variants):
                chosen = set(rng.sample(usable, min(len(usable), rng.randint(*FIELDS_PER_INSTRUCTION))))
                fields = ["name", *(f for f in usable if f in chosen)]
                if not chosen or tuple(fields) in seen:
                    continue
                seen.add(tuple(fields))
                record = _instruction(rng, kind, plan, fields, fact_ids)
                splits[split].append({"id": f"ins-{split}-{len(splits[split]):05d}", **record})
    return splits


# --- entry points ----------------------------------------------------------------------------


def _check_params(**params: Any) -> None:
    for name, value in params.items():
        low, high, kind = PARAMETERS[name]
        accepted = (int,) if kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, accepted) or not low <= value <= high:
            what = "an integer" if kind is int else "a number"
            raise UserError(f"{name} must be {what} from {low} to {high} (got {value!r})")


def generate(*, seed: int = 0, n_compounds: int = 80, eval_fraction: float = 0.25) -> SynthDomain:
    """The domain in memory, fully determined by the arguments."""
    _check_params(seed=seed, n_compounds=n_compounds, eval_fraction=eval_fraction)
    rng = random.Random(seed)
    plans = _plan(rng, n_compounds)
    rendered = {plan.id: _render(rng, plan) for plan in plans}
    documents = {doc_id: text for doc_id, (text, _) in rendered.items()}
    facts = _fact_records(plans, {doc_id: statements for doc_id, (_, statements) in rendered.items()})
    _verify_answers_local(documents, facts)
    held = _eval_facts(rng, facts, eval_fraction)
    for fact in facts:
        fact["split"] = "eval" if fact["id"] in held else "train"
    qa = _qa(rng, facts, {plan.id: plan.slots for plan in plans}, held)
    instructions = _instructions(rng, plans, facts, held, eval_fraction)
    records = dict(zip(FILES, (facts, qa["train"], qa["eval"], instructions["train"], instructions["eval"])))
    summary = SynthSummary(
        seed=seed,
        n_compounds=n_compounds,
        eval_fraction=eval_fraction,
        documents={kind: sum(p.kind == kind for p in plans) for kind in LAYOUTS},
        facts=len(facts),
        facts_eval=len(held),
        qa_train=len(qa["train"]),
        qa_eval=len(qa["eval"]),
        instructions_train=len(instructions["train"]),
        instructions_eval=len(instructions["eval"]),
        format_kinds=tuple(FORMATS),
    )
    return SynthDomain(documents, records, summary)


def practice_domains(n: int, n_compounds: int = 80) -> Iterator[SynthDomain]:
    """`n` fresh domains (seeds PRACTICE_SEEDS, PRACTICE_SEEDS + 1, ...): skills such as reading
    passages or keeping a format learnt on names and values no evaluation asks about."""
    for seed in range(PRACTICE_SEEDS, PRACTICE_SEEDS + n):
        yield generate(seed=seed, n_compounds=n_compounds)


def _write(folder: Path, domain: SynthDomain) -> None:
    docs = folder / "docs"
    docs.mkdir()
    for doc_id, text in domain.documents.items():
        (docs / f"{doc_id}.txt").write_text(text, encoding="utf-8")
    for name, records in domain.records.items():
        write_jsonl(folder / name, records)
    (folder / "synth.json").write_text(json.dumps(domain.summary.to_dict(), indent=2) + "\n", encoding="utf-8")


def _publish(domain: SynthDomain, out_dir: Path) -> None:
    """Written whole or not at all (fileio.publish_dir): a failure leaves nothing half-written."""
    with publish_dir(out_dir) as tmp:
        _write(tmp, domain)


def synthesize(out_dir: Path, *, seed: int = 0, n_compounds: int = 80, eval_fraction: float = 0.25) -> SynthSummary:
    """Write the domain to `out_dir`: docs/<doc_id>.txt, facts, QA and instruction JSONL, synth.json.

    The same arguments give byte-identical files. An existing `out_dir` is replaced
    only if it is empty or an earlier output (it has synth.json).
    """
    domain = generate(seed=seed, n_compounds=n_compounds, eval_fraction=eval_fraction)
    out_dir = Path(out_dir)
    check_replaceable(out_dir, "synth.json", "synthetic domain")
    _publish(domain, out_dir)
    return domain.summary
