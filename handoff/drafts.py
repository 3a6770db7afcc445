"""Knowledge-base drafts from resolved handoffs, and the editors' review of them.

When an agent resolves a ticket marked "should become knowledge-base content", `draft_from_ticket` proposes:
- a new step for the article the bot tried (the agent's resolution), or a new article when none was tried;
- NLU examples from the customer turns the bot misunderstood or handed off on, with suggested intent and
  entities;
- a Rasa test story reproducing the bot's part of the conversation (it stops after the first corrected turn,
  since what the bot did next depended on the misunderstanding).
Drafts are bilingual; the conversation supplies one language and the editor the other before approval.
Approval writes the files under data/ (bot/content), imports the knowledge base at once (the action server
picks up the new revision within seconds, no retraining), and starts a retrain when examples or a story were
added.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.content import articles, nlu, stories
from bot.content.articles import ContentError
from bot.kb.files import ArticleFile, ArticleFileError, StepFile
from bot.kb.importer import import_articles
from bot.language import SUPPORTED as LANGUAGES
from bot.review import FALLBACK_INTENT, LOW_CONFIDENCE
from handoff import serialize
from handoff.errors import Conflict, Forbidden, Invalid, NotFound
from handoff.hub import Hub
from handoff.models import Agent, Draft, Message, Ticket

EDITOR_ROLES = ("editor", "admin")
STATUSES = ("pending", "approved", "rejected")  # a draft's; the editor's list filters by them
PROBLEM_INTENT = "describe_problem"
UNCLEAR = {FALLBACK_INTENT, "out_of_scope", None}
DEFAULT_CHECK = {"en": "The problem no longer occurs.", "de": "Das Problem tritt nicht mehr auf."}
UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
RULE_ACTIONS = {PROBLEM_INTENT: "action_find_article", "request_human": "action_handoff"}
STOPWORDS = {
    "the", "a", "an", "my", "is", "it", "and", "or", "of", "to", "i", "on", "in", "when", "with", "does", "not",
    "der", "die", "das", "mein", "meine", "ist", "und", "oder", "von", "zu", "ich", "bei", "im", "mit", "nicht",
    "wenn", "es", "ein", "eine", "sich", "from", "after", "for", "at", "by", "nach", "beim", "vom", "am", "auf",
}  # fmt: skip
log = logging.getLogger(__name__)

RetrainTrigger = Callable[[str], Awaitable[dict]]


def other(language: str) -> str:
    return "de" if language == "en" else "en"


def require_editor(agent: Agent) -> None:
    if agent.role not in EDITOR_ROLES:
        raise Forbidden("Only editors and administrators review knowledge-base drafts.", "editor_only")


# --- drafting ---------------------------------------------------------------------------------------------


def slug(text: str, limit: int = 5, skip: tuple[str, ...] = ()) -> str:
    """A short ASCII id part from the first meaningful words of `text` ("Objektiv klickt" -> "objektiv-klickt")."""
    text = text.casefold().translate(UMLAUTS)
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = [
        w
        for w in re.findall(r"[a-z0-9]+", ascii_text.casefold())
        if len(w) > 1 and w not in STOPWORDS and w not in skip
    ]
    return "-".join(words[:limit]) or "new-problem"


def _customer_turns(context: dict) -> list[dict]:
    return [t for t in context.get("turns") or [] if t.get("text") and not str(t["text"]).startswith("/")]


def _corrected_intent(turn: dict) -> str | None:
    """The intent an editor most likely wants for a turn the bot misunderstood (None: the bot was right)."""
    intent, confidence = turn.get("intent"), float(turn.get("confidence") or 0.0)
    if intent in UNCLEAR:
        return turn.get("suggested") if turn.get("suggested") not in UNCLEAR else PROBLEM_INTENT
    if confidence < LOW_CONFIDENCE:
        return intent
    return None


def draft_examples(context: dict, language: str) -> list[dict]:
    """NLU examples from the turns the bot misunderstood or handed off on, with intent and entities."""
    turns = _customer_turns(context)
    picked: list[dict] = []
    for index, turn in enumerate(turns):
        corrected = _corrected_intent(turn)
        last = index == len(turns) - 1
        if corrected is None and not (last and turn.get("intent") == PROBLEM_INTENT):
            continue
        text = turn["text"]
        entities = [
            {"entity": e["entity"], "value": e.get("value"), "text": text[e["start"] : e["end"]]}
            for e in turn.get("entities") or []
            if isinstance(e.get("start"), int) and isinstance(e.get("end"), int) and e["entity"] != "language"
        ]
        picked.append(
            {
                "text": text,
                "language": language,
                "intent": corrected or turn.get("intent"),
                "predicted": turn.get("intent"),
                "confidence": turn.get("confidence"),
                "entities": entities,
                "include": True,
            }
        )
    return picked


def draft_story(context: dict, language: str, name: str) -> dict:
    """A test story of the bot's part of the conversation, up to the first turn an editor has to correct."""
    steps: list[dict] = []
    for turn in context.get("turns") or []:
        corrected = _corrected_intent(turn)
        intent = corrected or turn.get("intent")
        if not intent:
            break
        steps.append({"user": turn["text"], "intent": intent})
        if corrected and corrected != turn.get("intent"):
            action = RULE_ACTIONS.get(corrected)
            if action:
                steps.append({"action": action})
            break
        steps.extend({"action": a} for a in turn.get("actions") or [] if a)
    return {"story": name, "steps": steps}


def _problem_texts(context: dict) -> list[str]:
    texts = []
    for turn in _customer_turns(context):
        intent = _corrected_intent(turn) or turn.get("intent")
        if intent == PROBLEM_INTENT and len(turn["text"].split()) >= 3 and turn["text"] not in texts:
            texts.append(turn["text"])
    return texts


def draft_content(ticket: Ticket, customer_texts: list[str], tried_article: str | None) -> tuple[str, str, dict]:
    """(kind, article id, content) for a resolved ticket; see the module docstring."""
    lang, second = ticket.language, other(ticket.language)
    packet, context = ticket.packet or {}, ticket.bot_context or {}
    note = (ticket.resolution_note or "").strip()
    summary = (packet.get("summary") or ticket.summary or (customer_texts[0] if customer_texts else "")).strip()
    symptoms = _problem_texts(context) or [t for t in customer_texts if len(t.split()) >= 3][:5] or [summary]
    device = packet.get("device") or {}
    category = device.get("category") or ticket.category or ""
    examples = draft_examples(context, lang)
    if tried_article:
        kind, article_id = "step", tried_article
        proposal = {
            "step": {
                lang: {"do": note, "check": DEFAULT_CHECK[lang]},
                second: {"do": "", "check": DEFAULT_CHECK[second]},
                "brands": [],
            },
            "position": None,
        }
        name = f"{lang} {article_id}: solved by a step added from ticket {ticket.id}"
    else:
        kind = "article"
        article_id = f"{category}-{slug(summary, 4, (category,))}" if category else slug(summary, 4)
        proposal = {
            "article": {
                "id": article_id,
                "category": category or "phone",
                "topic": slug(summary, 3).replace("-", "_"),
                "handoff": "after_steps",
                "priority": "normal",
                "title": {lang: summary[:120], second: ""},
                "symptoms": {lang: symptoms, second: []},
                "steps": [
                    {
                        lang: {"do": note, "check": DEFAULT_CHECK[lang]},
                        second: {"do": "", "check": DEFAULT_CHECK[second]},
                    }
                ],
            }
        }
        name = f"{lang} {article_id}: new article from ticket {ticket.id}"
    proposal["examples"] = examples
    proposal["story"] = draft_story(context, lang, name)
    return kind, article_id, proposal


async def _proposal(session: AsyncSession, hub: Hub, ticket: Ticket, as_article: bool | None) -> tuple[str, str, dict]:
    rows = await session.execute(
        select(Message.text, Message.meta)
        .where(Message.conversation_id == ticket.conversation_id, Message.sender == "customer")
        .order_by(Message.id)
    )
    # what the customer wrote; a button they pressed ("Talk to a person") shows its title, and describes nothing
    customer_texts = [text for text, meta in rows.all() if text and not (meta or {}).get("payload")]
    packet = ticket.packet or {}
    # A step for the tried article only if the customer really went through some of its steps (kind "step"
    # forced by the editor: any article the bot had chosen).
    tried = None if as_article is True else packet.get("article_id")
    if as_article is None and not packet.get("steps_tried"):
        tried = None
    if tried and await hub.in_thread(hub.knowledge_base.article, tried, ticket.language) is None:
        tried = None  # the article was removed since: propose a new one
    return draft_content(ticket, customer_texts, tried)


async def draft_from_ticket(session: AsyncSession, hub: Hub, ticket: Ticket, agent: Agent) -> Draft:
    """Create the pending draft for a ticket just resolved with the knowledge-base mark (same transaction)."""
    kind, article_id, content = await _proposal(session, hub, ticket, as_article=None)
    draft = Draft(
        ticket_id=ticket.id,
        conversation_id=ticket.conversation_id,
        kind=kind,
        status="pending",
        article_id=article_id,
        language=ticket.language,
        content=content,
        author_id=agent.id,
        created_at=hub.now(),
        updated_at=hub.now(),
    )
    session.add(draft)
    return draft


async def convert(hub: Hub, agent: Agent, draft_id: int, kind: str) -> dict:
    """Draft again as a new article (the bot had tried an unrelated article) or as a step for the tried one."""
    require_editor(agent)
    if kind not in ("article", "step"):
        raise Invalid("kind: article or step.", "invalid_kind")
    async with hub.sessions() as session, session.begin():
        draft = await _load(session, draft_id)
        _pending(draft)
        ticket = await session.get(Ticket, draft.ticket_id)
        if kind == "step" and not (ticket.packet or {}).get("article_id"):
            raise Conflict("The bot tried no article in this conversation: draft a new article.", "no_article_tried")
        draft.kind, draft.article_id, draft.content = await _proposal(session, hub, ticket, kind == "article")
        draft.updated_at = hub.now()
    return describe(draft)


# --- what is missing -------------------------------------------------------------------------------------


def missing(kind: str, content: dict) -> list[str]:
    """The fields an editor still has to fill before approval, language by language ("article.title.de")."""
    gaps: list[str] = []
    if kind == "article":
        article = content.get("article") or {}
        for lang in LANGUAGES:
            if not str((article.get("title") or {}).get(lang) or "").strip():
                gaps.append(f"article.title.{lang}")
            if not [s for s in (article.get("symptoms") or {}).get(lang) or [] if str(s).strip()]:
                gaps.append(f"article.symptoms.{lang}")
            for n, step in enumerate(article.get("steps") or [], start=1):
                for part in ("do", "check"):
                    if not str((step.get(lang) or {}).get(part) or "").strip():
                        gaps.append(f"article.steps.{n}.{lang}.{part}")
    else:
        step = content.get("step") or {}
        for lang in LANGUAGES:
            for part in ("do", "check"):
                if not str((step.get(lang) or {}).get(part) or "").strip():
                    gaps.append(f"step.{lang}.{part}")
    return gaps


# --- review ----------------------------------------------------------------------------------------------


def describe(draft: Draft, author: Agent | None = None, reviewer: Agent | None = None) -> dict:
    return {
        "id": draft.id,
        "ticket_id": draft.ticket_id,
        "conversation_id": draft.conversation_id,
        "kind": draft.kind,
        "status": draft.status,
        "article_id": draft.article_id,
        "language": draft.language,
        "content": draft.content,
        "missing": missing(draft.kind, draft.content),
        "author": author.display_name if author else None,
        "reviewer": reviewer.display_name if reviewer else None,
        "reject_reason": draft.reject_reason,
        "result": draft.result,
        "created_at": serialize.iso(draft.created_at),
        "updated_at": serialize.iso(draft.updated_at),
        "decided_at": serialize.iso(draft.decided_at) if draft.decided_at else None,
    }


async def list_drafts(hub: Hub, agent: Agent, status: str = "pending") -> list[dict]:
    require_editor(agent)
    async with hub.sessions() as session:
        rows = (
            await session.scalars(select(Draft).where(Draft.status == status).order_by(Draft.id.desc()).limit(200))
        ).all()
        names = dict((await session.execute(select(Agent.id, Agent.display_name))).all())
    out = []
    for d in rows:
        item = describe(d)
        item["author"] = names.get(d.author_id)
        item["reviewer"] = names.get(d.reviewer_id)
        out.append(item)
    return out


async def pending_count(hub: Hub) -> int:
    async with hub.sessions() as session:
        return await session.scalar(select(func.count()).select_from(Draft).where(Draft.status == "pending")) or 0


async def _load(session: AsyncSession, draft_id: int) -> Draft:
    draft = await session.get(Draft, draft_id)
    if draft is None:
        raise NotFound(f"No draft {draft_id}.")
    return draft


async def draft_detail(hub: Hub, agent: Agent, draft_id: int) -> dict:
    """The draft with its source conversation (transcript, resolution, the bot's context) beside it."""
    require_editor(agent)
    async with hub.sessions() as session:
        draft = await _load(session, draft_id)
        ticket = await session.get(Ticket, draft.ticket_id)
        messages = (
            await session.scalars(
                select(Message).where(Message.conversation_id == draft.conversation_id).order_by(Message.id)
            )
        ).all()
        author = await session.get(Agent, draft.author_id) if draft.author_id else None
        reviewer = await session.get(Agent, draft.reviewer_id) if draft.reviewer_id else None
    out = describe(draft, author, reviewer)
    out["source"] = {
        "ticket": {
            "id": ticket.id,
            "reason": ticket.reason,
            "category": ticket.category,
            "summary": ticket.summary,
            "resolution_note": ticket.resolution_note,
            "packet": ticket.packet,
        },
        "turns": (ticket.bot_context or {}).get("turns", []),
        "transcript": [serialize.message(m) for m in messages],
    }
    return out


async def update_draft(hub: Hub, agent: Agent, draft_id: int, content: dict) -> dict:
    """Replace the draft's proposal with the editor's edit (only while pending)."""
    require_editor(agent)
    async with hub.sessions() as session, session.begin():
        draft = await _load(session, draft_id)
        _pending(draft)
        _check_shape(draft.kind, content)
        draft.content = content
        if draft.kind == "article":
            draft.article_id = str(content["article"].get("id") or draft.article_id)
        draft.updated_at = hub.now()
    return describe(draft)


async def reject(hub: Hub, agent: Agent, draft_id: int, reason: str) -> dict:
    require_editor(agent)
    if not reason.strip():
        raise Invalid("Say why the draft is rejected: the agent who wrote it reads it.", "reason_required")
    async with hub.sessions() as session, session.begin():
        draft = await _load(session, draft_id)
        _pending(draft)
        draft.status, draft.reject_reason = "rejected", reason.strip()
        draft.reviewer_id, draft.decided_at = agent.id, hub.now()
        summary = await _ticket_summary(session, draft)
    await _tell_author(hub, suggestion(draft, summary, agent.display_name), draft.author_id)
    return describe(draft, reviewer=agent)


# -- what the author sees -----------------------------------------------------------------------------------
SUGGESTIONS_SHOWN = 20


def suggestion(draft: Draft, summary: str, reviewer: str | None) -> dict:
    """An agent's own knowledge-base suggestion as their console lists it: what, and the editor's verdict."""
    return {
        "id": draft.id,
        "ticket_id": draft.ticket_id,
        "kind": draft.kind,
        "article_id": draft.article_id,
        "summary": summary,
        "status": draft.status,
        "reject_reason": draft.reject_reason,
        "reviewer": reviewer,
        "created_at": serialize.iso(draft.created_at),
        "decided_at": serialize.iso(draft.decided_at) if draft.decided_at else None,
    }


async def suggestions_of(hub: Hub, agent: Agent) -> list[dict]:
    """The drafts made from tickets this agent resolved with the knowledge-base mark, newest first."""
    reviewer = aliased(Agent)
    async with hub.sessions() as session:
        rows = (
            await session.execute(
                select(Draft, Ticket.summary, reviewer.display_name)
                .join(Ticket, Ticket.id == Draft.ticket_id)
                .outerjoin(reviewer, reviewer.id == Draft.reviewer_id)
                .where(Draft.author_id == agent.id)
                .order_by(Draft.id.desc())
                .limit(SUGGESTIONS_SHOWN)
            )
        ).all()
    return [suggestion(draft, summary, name) for draft, summary, name in rows]


async def _ticket_summary(session: AsyncSession, draft: Draft) -> str:
    return await session.scalar(select(Ticket.summary).where(Ticket.id == draft.ticket_id)) or ""


async def _tell_author(hub: Hub, decided: dict, author_id: int | None) -> None:
    """The agent whose resolution became the draft sees the verdict live (and in their list later)."""
    if author_id is not None:
        await hub.events.to_agent(author_id, {"type": "suggestion_decided", "suggestion": decided})


@dataclass
class Written:
    """What approving a draft changed on disk and in the knowledge base."""

    files: list[str] = field(default_factory=list)
    skipped_examples: list[dict] = field(default_factory=list)
    kb_revision: int | None = None
    training_data_changed: bool = False
    step_position: int | None = None


async def approve(hub: Hub, agent: Agent, draft_id: int, retrain: RetrainTrigger | None = None) -> dict:
    """Write the draft into data/ (and tests/stories), import the knowledge base, and retrain if needed."""
    require_editor(agent)
    async with hub.sessions() as session:
        draft = await _load(session, draft_id)
        _pending(draft)
        _check_shape(draft.kind, draft.content)  # e.g. drafted before a check existed: refused before any write
        gaps = missing(draft.kind, draft.content)
        if gaps:
            raise Invalid(
                "Supply both languages before approval; missing: " + ", ".join(gaps), "missing_language", fields=gaps
            )
    async with hub.lock("content"):
        written = await hub.in_thread(_write, hub, draft.kind, draft.article_id, draft.content)
    result = {
        "files": written.files,
        "skipped_examples": written.skipped_examples,
        "kb_revision": written.kb_revision,
        "step_position": written.step_position,
        "retrain": "not needed",
    }
    if written.training_data_changed:
        result["retrain"] = "disabled" if retrain is None else (await retrain(f"draft {draft_id}")).get("state")
    async with hub.sessions() as session, session.begin():
        stored = await _load(session, draft_id)
        stored.status, stored.result = "approved", result
        stored.reviewer_id, stored.decided_at = agent.id, hub.now()
        summary = await _ticket_summary(session, stored)
    await _tell_author(hub, suggestion(stored, summary, agent.display_name), stored.author_id)
    return describe(stored, reviewer=agent)


def _write(hub: Hub, kind: str, article_id: str, content: dict) -> Written:
    settings, written = hub.settings, Written()
    kb_dir = Path(settings.kb_dir)
    try:
        if kind == "article":
            article = _validated(ArticleFile, content["article"])
            path = articles.write_new(kb_dir, article)
            undo = path.unlink
        else:
            path = articles.find(kb_dir, article_id)
            if path is None:
                raise ContentError(f"The article '{article_id}' no longer exists; reject this draft.")
            original = path.read_text(encoding="utf-8")
            written.step_position = articles.add_step(path, _validated(StepFile, content["step"]), content["position"])

            def undo() -> None:
                path.write_text(original, encoding="utf-8")

        try:
            with hub.kb_sessions() as session:
                written.kb_revision = import_articles(session, kb_dir).revision
        except ArticleFileError as exc:
            undo()
            raise ContentError("The knowledge base does not import:\n" + "\n".join(exc.problems)) from exc
        written.files.append(str(path))
        hub.knowledge_base.refresh()
        by_target: dict[tuple[str, str], list[str]] = {}
        for example in content.get("examples") or []:
            if example.get("include") and str(example.get("text") or "").strip():
                key = (example.get("language") or "en", example["intent"])
                by_target.setdefault(key, []).append(nlu.annotate(example["text"], example.get("entities") or []))
        for (language, intent), texts in by_target.items():
            report = nlu.add_examples(Path(settings.nlu_dir), language, intent, texts)
            written.files.extend(report.added)
            written.skipped_examples.extend({"text": t, "reason": r} for t, r in report.skipped)
            written.training_data_changed |= bool(report.added)
        story = content.get("story") or {}
        if story.get("steps") and story.get("include", True):
            language = story.get("language") or _story_language(story)
            written.files.append(str(stories.add_story(Path(settings.test_stories_dir), language, story)))
            written.training_data_changed = True
    except ContentError as exc:
        raise Conflict(str(exc), "content_rejected") from exc
    return written


def _story_language(story: dict) -> str:
    name = str(story.get("story") or "")
    return name[:2] if name[:2] in LANGUAGES else "en"


def _validated(model, data: dict):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or '(draft)'}: {e['msg']}" for e in exc.errors()]
        raise Invalid("The draft is not valid: " + "; ".join(problems), "invalid_draft", fields=problems) from exc


def _pending(draft: Draft) -> None:
    if draft.status != "pending":
        raise Conflict(f"Draft {draft.id} was already {draft.status}.", "already_decided")


def _check_shape(kind: str, content: object) -> None:
    if not isinstance(content, dict):
        raise Invalid("content must be an object.", "invalid_draft")
    key = "article" if kind == "article" else "step"
    if not isinstance(content.get(key), dict):
        raise Invalid(f"content.{key} must be an object.", "invalid_draft")
    if not isinstance(content.get("examples", []), list) or not isinstance(content.get("story", {}), dict):
        raise Invalid("content.examples must be a list and content.story an object.", "invalid_draft")
    for example in content.get("examples", []):
        if not isinstance(example, dict) or not isinstance(example.get("text", ""), str):
            raise Invalid("Each example needs a text.", "invalid_draft")
        if example.get("language") not in LANGUAGES or not re.fullmatch(r"[a-z_]+", str(example.get("intent"))):
            raise Invalid("Each example needs a language (de, en) and an intent name.", "invalid_draft")
    _check_story(content.get("story") or {})


def _check_story(story: dict) -> None:
    """A test story as add_story writes it: checked before anything is written, so that approving never stops
    half way (an article written and imported, then the story refused)."""
    if story.get("language") is not None and story.get("language") not in LANGUAGES:
        raise Invalid("content.story.language: de or en.", "invalid_draft")  # it names the file written
    steps = story.get("steps") or []
    if not isinstance(steps, list):
        raise Invalid("content.story.steps must be a list.", "invalid_draft")
    if steps and not str(story.get("story") or "").strip():
        raise Invalid("content.story needs a name (story).", "invalid_draft")
    for step in steps:
        user = isinstance(step, dict) and isinstance(step.get("user"), str) and step["user"].strip()
        said = user and re.fullmatch(r"[a-z_]+", str(step.get("intent")))
        acted = isinstance(step, dict) and "user" not in step and re.fullmatch(r"[a-z_]+", str(step.get("action")))
        if not (said or acted):
            raise Invalid(
                "Each story step needs 'user' (the text) with its 'intent', or an 'action' name.", "invalid_draft"
            )
