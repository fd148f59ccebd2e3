"""What a visitor wanted: one of seven intents per display query (report-insights.md). Pure.

Lexical rules, in this order (the first that applies decides):

1. a masked ``[email]`` or ``[phone]``: ``contact`` (the visitor left details);
2. a test or an abuse (markup, SQL, prompt injection, keyboard mash), or a question about
   the chatbot itself: ``other``;
3. a certification: ``education`` ("is he aws certified" is education);
4. a named technology, tool, method or spoken language: ``skills`` ("years of
   kubernetes?" is skills, not experience);
5. otherwise the intent whose cue words score highest (ties: the order of
   :data:`INTENTS`); no cue at all: ``other``.

Each rule's vocabulary lives in :mod:`tasks.core.themes`'s topic tables too, where it
also decides which theme a query joins; this module holds only what decides the intent.
Why rules and not the embedding: docs/insights-model.md (measured there).
"""

from __future__ import annotations

import re
from functools import lru_cache

INTENTS = ("contact", "compensation", "availability", "skills", "experience", "education", "other")

MASKED = re.compile(r"\[(?:email|phone)\]")

#: Tests, abuse and injection attempts: ``other`` whatever else they hold.
ABUSE = re.compile(
    r"<\s*/?\s*(?:script|img|iframe|svg|a|b|div|body|html)\b|onerror\s*=|javascript:"
    r"|\b(?:drop|truncate)\s+table\b|\bunion\s+select\b|\bselect\s+\*\s+from\b|'\s*;|;\s*--"
    r"|\bignore\s+(?:all\s+|any\s+|the\s+|your\s+)?(?:previous\s+|prior\s+|above\s+)?"
    r"(?:instructions|prompts?|rules)\b|\b(?:system|your)\s+prompt\b|\bjailbreak"
    r"|^(?:test\s*)+[.!?]*$|^(?:asdf\w*|qwer\w*|zxcv\w*|[a-z])$"
)

#: Questions about the chatbot, not the candidate.
BOT = re.compile(
    r"\bare\s+you\b|\bwho\s+(?:made|built|created|programmed|trained|are)\s+(?:you|this)\b"
    r"|\bthis\s+(?:chat\s*bot|bot|assistant|ai|chat)\b|\bchat\s*bot\b|\bwhat\s+are\s+you\b"
    r"|\b(?:which|what)\s+(?:llm|model|ai)\s+(?:is\s+this|are\s+you|do\s+you)\b"
    r"|\bis\s+this\s+(?:an?\s+)?(?:gpt|chatgpt|claude|llama|gemini|ai|bot|human|real)"
    r"|\byour\s+(?:name|model|instructions)\b|\bwho\s+am\s+i\s+(?:talking|speaking)\b"
)

CERTIFICATION = re.compile(
    r"\bcertif\w*|\bcerts?\b|\bcka\b|\bckad\b|\bpmp\b|\bcissp\b|\bprince2\b|\bitil\b"
    r"|\bcsm\b|\bpsm\b|\baccredit\w*|\blicen[cs]ed\b"
)

#: Spoken languages (a skill); "in japanese" style questions too.
LANGUAGES = (
    "english",
    "german",
    "deutsch",
    "french",
    "français",
    "francais",
    "spanish",
    "español",
    "italian",
    "portuguese",
    "dutch",
    "polish",
    "russian",
    "japanese",
    "chinese",
    "mandarin",
    "cantonese",
    "korean",
    "arabic",
    "hindi",
    "swedish",
    "norwegian",
    "danish",
    "finnish",
    "turkish",
    "greek",
    "hebrew",
    "ukrainian",
    "czech",
)

#: A language's own name -> its English name (one theme for "german" and "deutsch").
LANGUAGE_NAMES = {
    "deutsch": "german",
    "français": "french",
    "francais": "french",
    "español": "spanish",
    "mandarin": "chinese",
}

#: Canonical technology -> the spellings that name it (regex fragments, whole words).
#: Synonyms that share no word ("k8s"/"kubernetes", "postgres"/"sql") map to one name.
TECHNOLOGIES: dict[str, tuple[str, ...]] = {
    "kubernetes": (r"kubernetes", r"k8s", r"kubectl", r"helm", r"eks", r"aks", r"gke"),
    "docker": (r"docker\w*", r"containeri[sz]\w*", r"containers?", r"podman"),
    "python": (r"python\w*", r"django", r"flask", r"fastapi", r"pandas", r"numpy", r"py"),
    "javascript": (r"javascript", r"js", r"ecmascript", r"es6", r"vanilla js"),
    "typescript": (r"typescript", r"ts"),
    "react": (r"react(?:\.?js)?", r"reactjs", r"react native", r"next\.?js", r"redux", r"jsx"),
    "angular": (r"angular(?:js)?",),
    "vue": (r"vue(?:\.?js)?", r"nuxt"),
    "node": (r"node(?:\.?js)?", r"nodejs", r"express\.?js", r"deno", r"npm"),
    "java": (
        r"java",
        r"spring(?= boot| framework| mvc)",
        r"spring boot",
        r"jvm",
        r"maven",
        r"gradle",
    ),
    "kotlin": (r"kotlin",),
    "scala": (r"scala",),
    "csharp": (r"c#", r"c sharp", r"csharp", r"\.net", r"dotnet", r"asp\.net", r"f#"),
    "cpp": (r"c\+\+", r"cpp"),
    "c": (r"c(?= (?:programming|language|experience|code|skills))", r"ansi c"),
    "go": (r"golang", r"go(?= (?:experience|skills|developer|programming|code|lang)\b)"),
    "rust": (r"rust", r"cargo"),
    "ruby": (r"ruby", r"rails", r"ruby on rails"),
    "php": (r"php", r"laravel", r"symfony", r"wordpress"),
    "swift": (r"swift(?:ui)?", r"ios", r"objective-c", r"xcode"),
    "android": (r"android",),
    "flutter": (r"flutter", r"dart"),
    "fortran": (r"fortran(?: ?\d+)?",),
    "cobol": (r"cobol",),
    "haskell": (r"haskell",),
    "elixir": (r"elixir", r"erlang"),
    "perl": (r"perl",),
    "matlab": (r"matlab",),
    "r-language": (r"r(?= (?:programming|language|studio)\b)", r"rstudio", r"tidyverse"),
    "sql": (
        r"sql",
        r"mysql",
        r"postgres\w*",
        r"psql",
        r"sqlite",
        r"oracle db",
        r"t-sql",
        r"pl/sql",
        r"sql server",
        r"mariadb",
        r"relational databases?",
    ),
    "nosql": (r"nosql", r"mongo\w*", r"cassandra", r"couchdb", r"redis", r"elasticsearch"),
    "dynamodb": (r"dynamo\w*",),
    "graphql": (r"graphql", r"apollo"),
    "kafka": (r"kafka", r"event streaming", r"kinesis", r"pulsar"),
    "rabbitmq": (r"rabbitmq", r"rabbit", r"sqs", r"message queues?"),
    "spark": (r"spark", r"pyspark", r"hadoop", r"databricks"),
    "aws": (r"aws", r"amazon web services", r"lambda", r"ec2", r"s3", r"cloudformation"),
    "azure": (r"azure",),
    "gcp": (r"gcp", r"google cloud", r"bigquery"),
    "terraform": (
        r"terraform",
        r"infrastructure as code",
        r"iac",
        r"pulumi",
        r"ansible",
        r"cdk",
    ),
    "ci-cd": (r"ci/cd", r"ci", r"cd", r"jenkins", r"github actions", r"gitlab ci", r"pipelines?"),
    "git": (r"git", r"github", r"gitlab", r"version control"),
    "linux": (r"linux", r"unix", r"bash", r"shell scripting", r"ubuntu"),
    "machine-learning": (
        r"machine learning",
        r"ml",
        r"ai",
        r"artificial intelligence",
        r"deep learning",
        r"pytorch",
        r"tensorflow",
        r"scikit-learn",
        r"sklearn",
        r"trained models?",
        r"train models?",
        r"training models?",
        r"neural networks?",
        r"llms?",
        r"nlp",
        r"data science",
    ),
    "html-css": (r"html5?", r"css3?", r"sass", r"tailwind", r"bootstrap"),
    "microservices": (r"microservices?", r"micro-services?", r"service mesh"),
    "agile": (r"agile", r"scrum", r"kanban", r"sprints?", r"jira"),
    "tdd": (
        r"tdd",
        r"test[- ]driven(?: development)?",
        r"unit tests?",
        r"unit testing",
        r"pytest",
        r"junit",
        r"bdd",
    ),
    "devops": (r"devops", r"sre", r"site reliability"),
    "excel": (r"excel(?! at| in)", r"spreadsheets?"),
    "figma": (r"figma", r"sketch"),
    "salesforce": (r"salesforce",),
    "sap": (r"sap",),
    "security": (r"owasp", r"penetration testing", r"pentesting", r"cybersecurity"),
}

_SKILL_VERB = (
    r"(?:know|knows|use|used|uses|using|work with|worked with|experience (?:with|in)"
    r"|code in|coded in|program in|write|written|wrote|familiar with|skilled in|good at"
    r"|good with|strong in|proficient in|any|do)"
)


def _alternatives(patterns: tuple[str, ...]) -> str:
    return "|".join(sorted(patterns, key=len, reverse=True))


_TECH_PATTERNS = tuple(
    (name, re.compile(rf"(?<![\w#+.]){'(?:' + _alternatives(spellings) + ')'}(?![\w#+])"))
    for name, spellings in TECHNOLOGIES.items()
)
_LANGUAGE_PATTERN = re.compile(
    rf"\b(?:{_alternatives(LANGUAGES)})\b|\bspeak\w*\b|\bsprechen\b|\bparle\b|\bhabla\b"
    r"|\blanguages?\b(?!\s+models?)"
)
#: "does he know X" for an X not in the table: still a named technology.
_UNKNOWN_TECH = re.compile(
    rf"\b(?:does|did|can|has|have)\s+he\s+{_SKILL_VERB}\s+(?!a\b|an\b|the\b|any\b|how\b|to\b"
    r"|people\b|teams?\b|it\b|what\b|his\b|about\b|anything\b|someone\b|anyone\b|good\b"
    r"|well\b|much\b|many\b|well\b|that\b|this\b|remote\w*\b|contract\w*\b|freelance\b"
    r"|from\b|in\b|with\b|on\b|for\b|me\b|us\b|you\b|them\b|fly\b|kids\b|cook\b|pets?\b)"
    r"([a-z][a-z0-9#+.\-]{1,20})\s*\??$"
)

#: Cue words per intent for rule 5 (regex fragments; word-bounded).
CUES: dict[str, tuple[str, ...]] = {
    "contact": (
        r"e-?mail\w*",
        r"phone",
        r"phone number",
        r"number",
        r"contact\w*",
        r"reach\w*",
        r"linkedin",
        r"get in touch",
        r"in touch",
        r"get hold",
        r"message",
        r"text me",
        r"ring",
        r"call\b(?! (?:centre|center))",
        r"calls",
        r"interview\w*",
        r"meet\w*",
        r"schedule\w*",
        r"book\w*",
        r"arrange\w*",
        r"zoom",
        r"teams call",
        r"video call",
        r"chat with him",
        r"coffee",
        r"chat on",
        r"a chat",
        r"recruit\w*",
        r"hiring",
        r"get back to me",
        r"talk to him",
        r"speak (?:to|with) him",
    ),
    "compensation": (
        r"salary",
        r"salaries",
        r"pay",
        r"paid",
        r"payment",
        r"rates?",
        r"day rate",
        r"daily rate",
        r"hourly",
        r"per (?:hour|day|annum|year|month)",
        r"charge\w*",
        r"cost\w*",
        r"how much",
        r"compensation",
        r"remuneration",
        r"wage\w*",
        r"earn\w*",
        r"money",
        r"package",
        r"benefits",
        r"equity",
        r"bonus",
        r"negotiable",
        r"expensive",
        r"budget",
        r"fee\w*",
        r"k a year",
        r"\d+k",
    ),
    "availability": (
        r"available",
        r"availability",
        r"start\w*",
        r"notice",
        r"open to",
        r"opportunit\w*",
        r"looking",
        r"job hunting",
        r"job-hunting",
        r"job search\w*",
        r"seeking",
        r"join\w*",
        r"free",
        r"immediately",
        r"asap",
        r"based",
        r"located",
        r"location",
        r"live\w*",
        r"city",
        r"country",
        r"where is he",
        r"europe",
        r"uk",
        r"us",
        r"usa",
        r"london",
        r"berlin",
        r"abroad",
        r"relocat\w*",
        r"move",
        r"moving",
        r"remote\w*",
        r"from home",
        r"wfh",
        r"hybrid",
        r"on-?site",
        r"office",
        r"commute",
        r"travel",
        r"contracts?",
        r"contractor",
        r"contracting",
        r"permanent",
        r"perm",
        r"freelanc\w*",
        r"full[- ]time",
        r"part[- ]time",
        r"visa",
        r"right to work",
        r"work permit",
        r"sponsor\w*",
        r"citizen\w*",
        r"time ?zone",
    ),
    "experience": (
        r"experience\w*",
        r"experienced",
        r"role",
        r"roles",
        r"job",
        r"jobs",
        r"position",
        r"title",
        r"employer\w*",
        r"compan\w*",
        r"worked",
        r"work(?:ing)? (?:at|for)",
        r"(?:does|did) he work",
        r"career",
        r"background",
        r"cv",
        r"resume",
        r"projects?",
        r"built",
        r"build",
        r"open source",
        r"portfolio",
        r"achiev\w*",
        r"accomplish\w*",
        r"proud\w*",
        r"industr\w*",
        r"sectors?",
        r"domain",
        r"fintech",
        r"finance",
        r"banking",
        r"healthcare",
        r"e-?commerce",
        r"retail",
        r"startups?",
        r"senior\w*",
        r"junior",
        r"years",
        r"how long",
        r"lead\w*",
        r"led",
        r"manag\w*",
        r"mentor\w*",
        r"people",
        r"team",
        r"strength\w*",
        r"strong points?",
        r"weakness\w*",
        r"weak",
        r"good at",
        r"best at",
        r"bad at",
        r"improve",
        r"hire",
        r"hiring him",
        r"fit",
        r"stand out",
        r"qualities",
        r"skills?",
        r"do now",
        r"doing (?:now|at the moment)",
        r"currently do",
        r"coding",
        r"developer",
        r"engineer",
        r"previous",
        r"last",
        r"current\w*",
        r"what does he do",
        r"tell me about him",
        r"summar\w*",
    ),
    "education": (
        r"degrees?",
        r"universit\w*",
        r"uni",
        r"college",
        r"school",
        r"stud\w*",
        r"graduat\w*",
        r"masters?",
        r"msc",
        r"bsc",
        r"ba",
        r"phd",
        r"doctorate",
        r"bachelor\w*",
        r"education\w*",
        r"qualifi\w*",
        r"diploma",
        r"courses?",
        r"bootcamp",
        r"training",
        r"trained",
        r"learn\w*",
        r"academic",
        r"gpa",
        r"grades?",
    ),
    "other": (
        r"married",
        r"wife",
        r"husband",
        r"girlfriend",
        r"boyfriend",
        r"single",
        r"kids",
        r"children",
        r"age",
        r"old",
        r"hobb\w*",
        r"pets?",
        r"dog",
        r"cat",
        r"cook\w*",
        r"food",
        r"favou?rite",
        r"football",
        r"sports?",
        r"religio\w*",
        r"politic\w*",
        r"weather",
        r"joke",
        r"poem",
        r"story",
        r"capital of",
        r"hello",
        r"hi",
        r"hey",
        r"thanks?",
        r"thank you",
        r"bye",
        r"film",
        r"movie",
        r"world cup",
    ),
}

#: Weights for rule 5: a cue worth more than one generic word.
STRONG_CUES: dict[str, tuple[str, ...]] = {
    "compensation": (r"salary", r"rates?", r"hourly", r"day rate", r"pay", r"paid", r"charge\w*"),
    "availability": (
        r"notice",
        r"relocat\w*",
        r"remote\w*",
        r"visa",
        r"freelanc\w*",
        r"permanent",
        r"contract\w*",
        r"based",
        r"available",
        r"hybrid",
    ),
    "education": (r"degrees?", r"universit\w*", r"stud\w*", r"graduat\w*", r"education\w*"),
    "contact": (r"e-?mail\w*", r"contact\w*", r"interview\w*", r"linkedin", r"phone"),
    "other": (r"married", r"hobb\w*", r"kids", r"weather", r"joke"),
}


def _cue_pattern(fragments: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-])(?:{_alternatives(fragments)})(?![\w-])")


_CUE_PATTERNS = {intent: _cue_pattern(cues) for intent, cues in CUES.items()}
_STRONG_PATTERNS = {intent: _cue_pattern(cues) for intent, cues in STRONG_CUES.items()}


def technologies(query: str) -> tuple[str, ...]:
    """The canonical technologies a display query names, sorted; spoken languages too."""
    found = {name for name, pattern in _TECH_PATTERNS if pattern.search(query)}
    found.update(
        "language:" + LANGUAGE_NAMES.get(match.group(0), match.group(0))
        for match in re.finditer(rf"\b(?:{_alternatives(LANGUAGES)})\b", query)
    )
    if not found:
        unknown = _UNKNOWN_TECH.search(query)
        if unknown:
            found.add(unknown.group(1).rstrip(".?"))
    return tuple(sorted(found))


def cue_scores(query: str) -> dict[str, int]:
    """Rule 5's scores: one per cue word found, two for a strong cue."""
    scores = {}
    for intent in INTENTS:
        pattern = _CUE_PATTERNS.get(intent)
        if pattern is None:
            continue
        score = len(pattern.findall(query))
        strong = _STRONG_PATTERNS.get(intent)
        if strong is not None:
            score += len(strong.findall(query))
        scores[intent] = score
    return scores


@lru_cache(maxsize=65_536)
def classify_intent(query: str) -> str:
    """The intent of a display query (see the module doc for the rules and their order)."""
    if MASKED.search(query):
        return "contact"
    if ABUSE.search(query) or BOT.search(query):
        return "other"
    if CERTIFICATION.search(query):
        return "education"
    if technologies(query) or _LANGUAGE_PATTERN.search(query):
        return "skills"
    scores = cue_scores(query)
    best = max(INTENTS, key=lambda intent: scores.get(intent, 0))
    return best if scores.get(best, 0) > 0 else "other"
