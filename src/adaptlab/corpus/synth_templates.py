"""The wording of the synthetic domain: name parts, sentence, question and prompt tables.

Kept apart from the generator so the text can grow (more templates, more variety)
without touching the logic. Every fact kind has several statement and question
templates, so no fact is learnable from one repeated sentence shape. Templates use
`{a}` for the fact's answer and the document's slots (`{s}` subject, `{p}`/`{v}`
for an interaction's perpetrator and victim, and colour slots such as `{route}`).
"""

from __future__ import annotations

# --- names: syllable parts and per-role endings -------------------------------------

ONSETS = (
    "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
    "br", "dr", "gr", "kr", "pr", "tr", "st", "sk", "th", "sh", "bl", "fl", "gl", "pl", "sl",
)  # fmt: skip
VOWELS = ("a", "e", "i", "o", "u")
CODAS = ("", "l", "m", "n", "r", "s", "x", "k")

# role -> (syllables before the ending, endings). Endings are invented, not the
# stems of real drug classes, so names read as pharmacology without being real.
NAME_STYLES: dict[str, tuple[int, tuple[str, ...]]] = {
    "compound": (1, ("antide", "orvane", "exolin", "imarel", "uvaset", "ondrix", "elquor", "astrel")),
    "target": (2, ("ase", "erase", "okinase")),
    "product": (2, ("in", "ulin", "orin", "ectin")),
    "transporter": (2, ("port", "trin", "vex")),
    "company": (2, ("a", "is", "ex", "on")),
    "eponym": (2, ("", "ik", "er")),
}
COMPANY_WORDS = ("Therapeutics", "Biologics", "Pharma", "Laboratories", "Biosciences")
SYMPTOMS = ("syndrome", "rash", "neuropathy", "tremor", "fever", "dermatitis", "myalgia")
GENE_LETTERS = "BCDFGHKLMNPRSTVWXZ"

# --- colour: values that make prose vary but are never asked about ------------------

COLOUR: dict[str, tuple[str, ...]] = {
    "route": ("oral", "intravenous", "subcutaneous", "inhaled", "transdermal"),
    "indication": (
        "chronic migraine", "refractory hypertension", "plaque psoriasis", "generalized anxiety",
        "rheumatoid arthritis", "chronic kidney disease", "atrial fibrillation", "persistent asthma",
        "neuropathic pain", "ulcerative colitis",
    ),
    "mech": ("an inhibitor", "a covalent inhibitor", "an antagonist", "a partial agonist", "an allosteric modulator"),
    "freq": ("once daily", "twice daily", "three times daily", "once weekly", "every other day"),
    "organ": ("liver", "kidneys"),
    "tissue": ("liver", "kidney cortex", "small intestine", "cerebral cortex", "skeletal muscle", "lung epithelium"),
    "process": ("lipid transport", "cell-cycle control", "ion balance", "bile acid synthesis", "hormone processing"),
    "severity": ("moderate", "major", "clinically significant"),
    "days": ("7", "10", "14", "21"),
}  # fmt: skip

# --- statements: one sentence per fact, several shapes per kind ---------------------

STATEMENTS: dict[str, tuple[str, ...]] = {
    "compound.developer": (
        "{s} is being developed by {a}.",
        "{a} holds the development rights to {s}.",
        "The sponsor of the {s} programme is {a}.",
    ),
    "compound.target": (
        "{s} is {mech} of {a}.",
        "Pharmacologically, {s} acts as {mech} of the protein {a}.",
        "The molecular target of {s} is {a}, which it binds as {mech}.",
    ),
    "compound.dose": (
        "The standard adult dose of {s} is {a}, taken {freq}.",
        "Adults usually receive {a} of {s} {freq}.",
        "{s} is given at {a} {freq} in most patients.",
    ),
    "compound.half_life": (
        "{s} has an elimination half-life of {a}.",
        "Plasma levels of {s} fall by half every {a}.",
        "The terminal half-life of {s} is about {a}.",
    ),
    "compound.side_effect": (
        "The most frequent adverse effect of {s} is {a}.",
        "In clinical studies, {a} was the adverse effect most often reported with {s}.",
        "Patients taking {s} most commonly develop {a}.",
    ),
    "compound.contraindication": (
        "{s} is contraindicated in carriers of the {a} allele.",
        "Carriers of the {a} allele must not receive {s}.",
        "Genotyping for the {a} allele is required before starting {s}, as carriers must not take it.",
    ),
    "gene.locus": (
        "Gene {s} lies on chromosome band {a}.",
        "The {s} gene maps to band {a}.",
        "Gene {s} is located at {a}.",
    ),
    "gene.protein": (
        "Gene {s} encodes the protein {a}.",
        "The product of gene {s} is {a}.",
        "{a} is the protein encoded by gene {s}.",
    ),
    "gene.length": (
        "The {protein} polypeptide is {a} long.",
        "Mature {protein}, the product of {s}, has a length of {a}.",
        "The chain of {protein} runs to {a}.",
    ),
    "interaction.transporter": (
        "{p} and {v} compete for the transporter {a}.",
        "Both {p} and {v} are carried by the transporter {a}, which is the basis of the interaction.",
        "The interaction arises because {p} blocks {a}, the transporter that clears {v}.",
    ),
    "interaction.exposure": (
        "When given together, {p} raises plasma exposure to {v} by {a}.",
        "Co-administration with {p} increases exposure to {v} by {a}.",
        "Exposure to {v} rises by {a} in the presence of {p}.",
    ),
    "interaction.dose_adjustment": (
        "The dose of {v} should be lowered to {a} while {p} is being taken.",
        "Patients on {p} should receive {v} at a reduced dose of {a}.",
        "With {p} on board, {v} is limited to {a}.",
    ),
}

# --- fillers: sentences that carry no asked-about fact ------------------------------

FILLERS: dict[str, tuple[str, ...]] = {
    "compound.intro": (
        "{s} is an investigational {route} agent under study for {indication}.",
        "{s} is a {route} medicine being evaluated in {indication}.",
        "Developed for {indication}, {s} is given by the {route} route.",
    ),
    "compound.pk": (
        "{s} is cleared mainly by the {organ}, and food has little effect on its absorption.",
        "Exposure to {s} increases in proportion to dose, and elimination is chiefly through the {organ}.",
        "Steady state is reached within the first week, with clearance mostly by the {organ}.",
    ),
    "compound.safety": (
        "Other adverse effects of {s} were mild and resolved without treatment.",
        "Most adverse effects of {s} appear in the first weeks of treatment.",
        "Serious reactions to {s} were uncommon in the trials reported so far.",
    ),
    "compound.xref": (
        "Interaction notes on record for {s}: {partners}.",
        "{s} is covered by interaction notes with: {partners}.",
    ),
    "gene.intro": (
        "Its coding sequence is highly conserved across mammals.",
        "Loss-of-function variants of {s} are rare in the general population.",
        "The locus was first characterised in family studies of drug response.",
    ),
    "gene.expression": (
        "{protein} is expressed mainly in the {tissue} and takes part in {process}.",
        "Expression of {protein} is highest in the {tissue}, where it supports {process}.",
        "In the {tissue}, {protein} is among the main proteins involved in {process}.",
    ),
    "gene.variants": (
        "Prescribers should know the {s} genotype before giving {compounds}, "
        "because some of its alleles rule these compounds out.",
        "Variants of {s} matter for prescribing: they affect treatment with {compounds}.",
        "Genotyping of {s} is advised before treatment with {compounds}.",
    ),
    "gene.clinical": (
        "Population frequencies of its alleles differ several-fold between regions, "
        "so local genotype data are preferred.",
        "Rare loss of {protein} activity has been linked to slower clearance of several medicines.",
        "Animal models lacking {protein} develop normally but handle a number of drugs differently.",
    ),
    "interaction.intro": (
        "This note covers patients who take {p} and {v} at the same time.",
        "{p} and {v} are sometimes prescribed together, and the combination needs care.",
        "Combined use of {p} with {v} has been studied in healthy volunteers.",
    ),
    "interaction.monitor": (
        "Patients on the combination should be reviewed within {days} days of starting it, "
        "and the interaction is rated {severity}.",
        "The interaction is rated {severity}; once {p} is stopped, "
        "the usual dose of {v} can be resumed after {days} days.",
        "Rated {severity}, the effect wears off within {days} days of stopping {p}.",
    ),
    "interaction.advice": (
        "Where the combination cannot be avoided, blood levels of {v} should be measured after the first week.",
        "Other medicines that use the same pathway may interact with {v} in a similar way.",
        "Stopping {p} reverses the effect gradually rather than at once, so the reduced dose is kept for a while.",
    ),
}

# doc kind -> title template, and paragraphs as lists of fact kinds and filler keys.
TITLES = {
    "compound": "{s}: compound monograph",
    "gene": "Gene {s}",
    "interaction": "Interaction note: {p} and {v}",
}
LAYOUTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "compound": (
        ("compound.intro", "compound.developer", "compound.target"),
        ("compound.dose", "compound.half_life", "compound.pk"),
        ("compound.side_effect", "compound.contraindication", "compound.safety", "compound.xref"),
    ),
    "gene": (
        ("gene.locus", "gene.protein", "gene.intro"),
        ("gene.length", "gene.expression"),
        ("gene.variants", "gene.clinical"),
    ),
    "interaction": (
        ("interaction.intro", "interaction.transporter"),
        ("interaction.exposure", "interaction.dose_adjustment"),
        ("interaction.monitor", "interaction.advice"),
    ),
}

# --- questions: several phrasings per fact kind -------------------------------------

QUESTIONS: dict[str, tuple[str, ...]] = {
    "compound.developer": (
        "Which company is developing {s}?",
        "Who holds the development rights to {s}?",
        "What is the name of the sponsor developing {s}?",
    ),
    "compound.target": (
        "Which protein does {s} act on?",
        "What is the molecular target of {s}?",
        "{s} binds which protein?",
    ),
    "compound.dose": (
        "What is the standard adult dose of {s}?",
        "How much {s} does an adult usually take per dose?",
        "At what dose is {s} normally given?",
    ),
    "compound.half_life": (
        "What is the elimination half-life of {s}?",
        "How long is the half-life of {s}?",
        "After how long do plasma levels of {s} fall by half?",
    ),
    "compound.side_effect": (
        "What is the most common adverse effect of {s}?",
        "Which adverse effect is reported most often with {s}?",
        "What side effect do patients taking {s} develop most often?",
    ),
    "compound.contraindication": (
        "Carriers of which allele must not receive {s}?",
        "Which allele is a contraindication for {s}?",
        "What genotype rules out treatment with {s}?",
    ),
    "gene.locus": (
        "On which chromosome band does gene {s} lie?",
        "Where is gene {s} located?",
        "What is the chromosomal location of gene {s}?",
    ),
    "gene.protein": (
        "Which protein does gene {s} encode?",
        "What is the product of gene {s}?",
        "Gene {s} encodes which protein?",
    ),
    "gene.length": (
        "How long is the protein encoded by gene {s}?",
        "What is the length of the {s} gene product?",
        "How many amino acids make up the protein encoded by gene {s}?",
    ),
    "interaction.transporter": (
        "Which transporter is involved in the interaction between {p} and {v}?",
        "Through which transporter do {p} and {v} interact?",
        "What transporter do {p} and {v} compete for?",
    ),
    "interaction.exposure": (
        "By how much does {p} raise exposure to {v}?",
        "How much does co-administration with {p} increase exposure to {v}?",
        "What is the rise in {v} exposure when {p} is given with it?",
    ),
    "interaction.dose_adjustment": (
        "To what dose should {v} be lowered when given with {p}?",
        "What reduced dose of {v} is used in patients taking {p}?",
        "What is the dose limit for {v} when combined with {p}?",
    ),
}

# --- instructions: the compound fields a strict-format reply may be asked for -------

# field -> (fact kind it reports, or None for the compound's own name; type; meaning)
COMPOUND_FIELDS: dict[str, tuple[str | None, str, str]] = {
    "name": (None, "text", "the compound's name"),
    "target": ("compound.target", "text", "the protein it acts on"),
    "dose_mg": ("compound.dose", "number", "its standard adult dose in milligrams, as a number"),
    "half_life_hours": ("compound.half_life", "number", "its elimination half-life in hours, as a number"),
    "side_effect": ("compound.side_effect", "text", "its most frequent adverse effect"),
    "developer": ("compound.developer", "text", "the company developing it"),
    "avoid_allele": ("compound.contraindication", "text", "the allele whose carriers must not receive it"),
}

# format kind -> prompt templates; {skeleton} shows the exact layout, {where} what each key means.
PROMPTS: dict[str, tuple[str, ...]] = {
    "xml": (
        "Return one XML element {skeleton} for {s}, where {where}. Output only the element.",
        "Describe {s} as a single self-closing XML element of the form {skeleton}; {where}. "
        "Reply with the element and nothing else.",
    ),
    "json": (
        "Give the facts about {s} as a one-line JSON object {skeleton}, where {where}. Output only the JSON.",
        "Answer with a single line of JSON with exactly the keys of {skeleton} for {s}; {where}. No other text.",
    ),
    "keyvalue": (
        "Report on {s} in exactly this layout, one line per key and nothing else:\n{skeleton}\nwhere {where}.",
        "Fill in this form for {s}, keeping the keys, their order and one key per line, with no other text:\n"
        "{skeleton}\nHere {where}.",
    ),
    "csv": (
        "Write a CSV with the header line {skeleton} and one data row for {s}, where {where}. "
        "Output only those two lines.",
        "Produce two CSV lines for {s}: the header {skeleton}, then the values; {where}. Nothing else.",
    ),
}
