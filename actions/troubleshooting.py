"""Guided troubleshooting: find the article for a problem, present its steps one at a time."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import guide_runs
from actions.common import button, language, latest_intent, latest_text, rating_buttons, say, step_buttons
from actions.handoff import hand_over
from actions.services import knowledge_base, min_score, suggest_score
from bot.devices import infer_category, mentions_danger, names_an_unsupported_device, names_only_a_device
from bot.kb.service import ArticleView
from bot.shop import asks_what_to_buy, is_shop_matter, without_shop_phrases
from bot.troubleshooting import choose_article, handoff_reason_for, next_position, reports_no_change


def present_step(
    dispatcher: CollectingDispatcher, tracker: Tracker, article: ArticleView, position: int
) -> list[dict[str, Any]]:
    """Show one step with its answer buttons; the message carries the article and step for the hub.
    The step is recorded in the conversation's guide run (the first step starts one)."""
    number, total = article.numbering(position, tracker.get_slot("brand"))
    step = next(s for s in article.steps if s.position == position)
    guide_runs.step_presented(tracker, article, position, number, total)
    dispatcher.utter_message(
        text=say("step", tracker, number=number, total=total, instruction=step.instruction, check=step.check),
        buttons=step_buttons(tracker),
        json_message={"kb_article": article.id, "step": position},
    )
    return [SlotSet("step", position), SlotSet("awaiting", "step")]


def ask_brand(dispatcher: CollectingDispatcher, tracker: Tracker, brands: tuple[str, ...]) -> None:
    """Ask for the brand, offering the brands that make a difference and "another brand"."""
    buttons = [{"title": b, "payload": f'/inform_device{{"brand": "{b}"}}'} for b in brands]
    buttons.append(button("brand_other", '/inform_device{"brand": "other"}', tracker))
    dispatcher.utter_message(text=say("ask_brand", tracker), buttons=buttons)


def start_article(dispatcher: CollectingDispatcher, tracker: Tracker, article_id: str) -> list[dict[str, Any]]:
    """Begin an article: safety first, then hand over (person topics) or present step 1 (guides)."""
    article = knowledge_base().article(article_id, language(tracker))
    events: list[dict[str, Any]] = [
        SlotSet("article_id", article_id),
        SlotSet("steps_tried", []),
        SlotSet("step", None),
        SlotSet("candidates", None),
        SlotSet("clarifications", 0.0),
    ]
    tracker.slots.update({"article_id": article_id, "steps_tried": []})
    reason = handoff_reason_for(article.handoff, article.priority)
    if article.safety:  # "for your safety" only where there is a danger; elsewhere it is what to keep in mind
        note = "safety_note" if reason == "safety" else "before_you_start"
        dispatcher.utter_message(text=say(note, tracker, safety=article.safety))
    if reason == "safety":
        return events + hand_over(dispatcher, tracker, "safety", article)
    if reason == "human_topic":
        if not tracker.get_slot("model") and tracker.get_slot("awaiting") != "details":
            dispatcher.utter_message(text=say("ask_device_details", tracker))
            return events + [SlotSet("awaiting", "details")]
        return events + hand_over(dispatcher, tracker, "human_topic", article)
    step_brands = tuple(dict.fromkeys(b for s in article.steps for b in s.brands))
    if step_brands and not tracker.get_slot("brand"):  # some steps differ by brand: ask before starting
        ask_brand(dispatcher, tracker, step_brands)
        return events + [SlotSet("awaiting", "brand"), SlotSet("candidates", [article_id])]
    dispatcher.utter_message(text=say("guide_intro", tracker, title=article.title))
    first = next_position([s.position for s in article.steps_for(tracker.get_slot("brand"))], None)
    return events + present_step(dispatcher, tracker, article, first)


def looks_like_a_description(text: str) -> bool:
    """A yes/no outside a guide that is long enough to be a problem description rather than an answer."""
    return not text.startswith("/") and len(text.split()) >= 3


def chosen_article(tracker: Tracker) -> str | None:
    """The article the customer picked from suggestions (button payload entity `article_choice`)."""
    for entity in (tracker.latest_message or {}).get("entities", []):
        if entity.get("entity") == "article_choice" and entity.get("value") in (tracker.get_slot("candidates") or []):
            return entity["value"]
    return None


def brand_for_the_chosen_guide(tracker: Tracker) -> str | None:
    """The guide that asked for the brand before its first step, when the latest message names the brand: it
    was already chosen (searching the description again could offer the same suggestions once more)."""
    candidates = tracker.get_slot("candidates") or []
    if tracker.get_slot("awaiting") != "brand" or len(candidates) != 1 or not tracker.get_slot("brand"):
        return None
    return candidates[0] if latest_intent(tracker) == "inform_device" else None


def ask_for_problem(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    """The device is known (or named), the problem not: ask what happens."""
    dispatcher.utter_message(text=say("ask_problem", tracker))
    return [SlotSet("awaiting", "problem")]


def urgent_candidates(matches, lang: str) -> frozenset[str]:
    """The safety articles among the search's candidates."""
    views = (knowledge_base().article(m.article_id, lang) for m in matches)
    return frozenset(v.id for v in views if v is not None and v.priority == "urgent")


def unsupported_device(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    """The customer's device is none the product supports (a TV, headphones): say so, no guide, offer a person.
    The text is not kept as the problem, so a description of a supported device starts afresh."""
    dispatcher.utter_message(
        text=say("unsupported_device", tracker), buttons=[button("button_person", "/request_human", tracker)]
    )
    return [SlotSet("problem_text", None), SlotSet("awaiting", None), SlotSet("candidates", None)]


def shop_matter(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    """An order, a delivery, an invoice, buying advice: the bot cannot look these up; a person can. The text stays
    the problem, so the ticket of "Talk to a person" shows it; a device problem described next replaces it."""
    dispatcher.utter_message(
        text=say("shop_matter", tracker), buttons=[button("button_person", "/request_human", tracker)]
    )
    return [SlotSet("awaiting", None), SlotSet("candidates", None)]


def no_match(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    """No guide fits: ask for other words once, then hand over (reason no_article)."""
    if (tracker.get_slot("clarifications") or 0) >= 1:
        return hand_over(dispatcher, tracker, "no_article")
    dispatcher.utter_message(
        text=say("no_match", tracker), buttons=[button("button_person", "/request_human", tracker)]
    )
    return [SlotSet("clarifications", 1.0), SlotSet("awaiting", "rephrase")]


class ActionFindArticle(Action):
    """The customer described a problem or named the device: find and start the matching guide."""

    def name(self) -> str:
        return "action_find_article"

    async def run(self, dispatcher, tracker, domain):
        awaiting = tracker.get_slot("awaiting")
        if awaiting == "step" and reports_no_change(latest_text(tracker)):  # "did that, no difference": no new problem
            return await ActionStepFeedback().run(dispatcher, tracker, domain)
        if awaiting == "details" and tracker.get_slot("article_id"):
            return hand_over(dispatcher, tracker, "human_topic")
        chosen = chosen_article(tracker) or brand_for_the_chosen_guide(tracker)
        if chosen:  # the customer picked one of the suggested guides (and, asked for it then, named the brand)
            return start_article(dispatcher, tracker, chosen)
        tentative = latest_intent(tracker) != "describe_problem"  # read as naming the device, maybe with more
        return find_article(dispatcher, tracker, new_description(tracker), tentative=tentative)


def new_description(tracker: Tracker) -> str | None:
    """The latest message as a problem description, or None when it only names the device (or is a button).

    The NLU's intent alone is not trusted where device and problem meet: a bare "Pixel 7a" read as a
    description is still only the device, and "Nokia G42 bootloop" read as naming the device still describes
    the problem when none is known yet (a device answer never replaces a problem the customer described)."""
    text = latest_text(tracker)
    if text.startswith("/") or only_the_device(tracker):
        return None
    intent = latest_intent(tracker)
    if intent == "describe_problem" or (intent == "inform_device" and not tracker.get_slot("problem_text")):
        return text
    return None


DEVICE_ENTITIES = ("device_category", "brand", "model")


def only_the_device(tracker: Tracker) -> bool:
    """The latest message names the device and nothing about a problem."""
    message = tracker.latest_message or {}
    spans = tuple(
        (e["start"], e["end"])
        for e in message.get("entities", [])
        if e.get("entity") in DEVICE_ENTITIES and "start" in e and "end" in e
    )
    return names_only_a_device(message.get("text") or "", spans)


def find_article(
    dispatcher: CollectingDispatcher, tracker: Tracker, new_problem: str | None, tentative: bool = False
) -> list[dict[str, Any]]:
    """Search for the problem (the new description, added to the old one after a rephrase request, or the
    stored one with the device details now known) and start, ask, suggest or say nothing fits.

    A `tentative` description (a message the NLU read as naming the device) that matches nothing is not
    taken as the problem: the customer is asked for it, as after any device name."""
    awaiting = tracker.get_slot("awaiting")
    problem = tracker.get_slot("problem_text")
    events: list[dict[str, Any]] = []
    if new_problem:
        problem = new_problem if awaiting != "rephrase" or not problem else f"{problem} {new_problem}"
        events.append(SlotSet("problem_text", problem))
        tracker.slots["problem_text"] = problem
    if not problem:
        return events + ask_for_problem(dispatcher, tracker)
    category, brand = tracker.get_slot("device_category"), tracker.get_slot("brand")
    danger = mentions_danger(problem)
    if not category and not danger and names_an_unsupported_device(problem):
        return unsupported_device(dispatcher, tracker)
    kb = knowledge_base()
    shop = is_shop_matter(problem)
    searched = without_shop_phrases(problem) if shop else problem  # "my order", "the invoice" point to no guide
    matches = kb.search(searched, language=language(tracker), category=category, brand=brand)
    urgent = urgent_candidates(matches, language(tracker)) if danger else frozenset()
    choice = choose_article(matches, kb.index(), category, brand, min_score(), suggest_score(), urgent=urgent)
    if choice.kind == "ask_category" and (named := infer_category(problem)) in choice.options:  # "my Fairphone"
        category = named
        events.append(SlotSet("device_category", named))
        matches = kb.search(searched, language=language(tracker), category=category, brand=brand)
        choice = choose_article(matches, kb.index(), category, brand, min_score(), suggest_score())
    if shop and (choice.kind != "article" or asks_what_to_buy(problem)):  # no guide fits well: no device problem
        return events + shop_matter(dispatcher, tracker)
    if choice.kind == "no_match" and tentative and new_problem:
        return ask_for_problem(dispatcher, tracker)  # the text is not kept as the problem
    if choice.kind == "no_match":
        return events + no_match(dispatcher, tracker)
    if choice.kind == "suggest":
        buttons = [
            {
                "title": kb.title(a, language(tracker)),
                "payload": f'/describe_problem{{"article_choice": "{a}"}}',
            }
            for a in choice.candidates
        ]
        buttons.append(button("none_of_these", "/deny", tracker))
        dispatcher.utter_message(text=say("suggest", tracker), buttons=buttons)
        return events + [SlotSet("awaiting", "choice"), SlotSet("candidates", list(choice.candidates))]
    if choice.kind == "ask_category":
        buttons = [
            button(f"category_{c}", f'/inform_device{{"device_category": "{c}"}}', tracker) for c in choice.options
        ]
        dispatcher.utter_message(text=say("ask_category", tracker), buttons=buttons)
        return events + [SlotSet("awaiting", "category"), SlotSet("candidates", list(choice.candidates))]
    if choice.kind == "ask_brand":
        ask_brand(dispatcher, tracker, choice.options)
        return events + [SlotSet("awaiting", "brand"), SlotSet("candidates", list(choice.candidates))]
    return events + start_article(dispatcher, tracker, choice.article_id)


class ActionStepFeedback(Action):
    """The customer answered yes or no: after a step this is its outcome."""

    def name(self) -> str:
        return "action_step_feedback"

    async def run(self, dispatcher, tracker, domain):
        awaiting = tracker.get_slot("awaiting")
        if awaiting == "details":  # no further device details: hand over with what we have
            return hand_over(dispatcher, tracker, "human_topic")
        if awaiting == "choice" and latest_intent(tracker) == "deny":  # none of the suggested guides fits
            return no_match(dispatcher, tracker)
        article_id, position = tracker.get_slot("article_id"), tracker.get_slot("step")
        article = knowledge_base().article(article_id, language(tracker)) if article_id else None
        if awaiting == "resume" and article is not None and position is not None and latest_intent(tracker) == "affirm":
            return present_step(dispatcher, tracker, article, int(position))  # back from a person: go on
        if awaiting != "step" or article is None or position is None:
            text = latest_text(tracker)
            if looks_like_a_description(text):  # "mein internet geht nicht" read as "no": search it
                return find_article(dispatcher, tracker, text)
            dispatcher.utter_message(text=say("how_can_help", tracker))
            return [SlotSet("awaiting", None)] if awaiting == "resume" else []  # "something else"
        position = int(position)
        step = next(s for s in article.steps if s.position == position)
        solved = latest_intent(tracker) == "affirm" and not reports_no_change(latest_text(tracker))
        tried = [
            *(tracker.get_slot("steps_tried") or []),
            {"step": position, "instruction": step.instruction, "outcome": "solved" if solved else "failed"},
        ]
        tracker.slots["steps_tried"] = tried
        events: list[dict[str, Any]] = [SlotSet("steps_tried", tried)]
        if solved:
            guide_runs.solved(tracker, article.id, position)
            dispatcher.utter_message(text=say("solved", tracker), buttons=rating_buttons())
            return events + [SlotSet("awaiting", "rating")]
        following = next_position([s.position for s in article.steps_for(tracker.get_slot("brand"))], position)
        if following is not None:
            return events + present_step(dispatcher, tracker, article, following)
        if article.handoff == "never":
            dispatcher.utter_message(
                text=say("guide_finished", tracker), buttons=[button("button_person", "/request_human", tracker)]
            )
            return events + [SlotSet("awaiting", None)]
        return events + hand_over(dispatcher, tracker, "steps_exhausted", article)


class ActionBackFromPerson(Action):
    """A person handed the chat back (the hub runs this through Rasa's HTTP API, no customer message comes first).

    The bot listens again; if the guide it handed over from has steps the customer has not tried, it offers to go
    on with the next of them instead of starting over. Otherwise it says nothing: the hub tells the customer they
    are back with the assistant.
    """

    def name(self) -> str:
        return "action_back_from_person"

    async def run(self, dispatcher, tracker, domain):
        events: list[dict[str, Any]] = [SlotSet("handed_off", False), SlotSet("awaiting", None)]
        article_id = tracker.get_slot("article_id")
        article = knowledge_base().article(article_id, language(tracker)) if article_id else None
        if article is None or handoff_reason_for(article.handoff, article.priority):  # no guide to go on with
            return events
        positions = [s.position for s in article.steps_for(tracker.get_slot("brand"))]
        tried = tracker.get_slot("steps_tried") or []
        if any(t["outcome"] == "solved" for t in tried):
            return events
        following = next_position(positions, max((t["step"] for t in tried), default=None))
        if following is None:
            return events
        number, total = article.numbering(following, tracker.get_slot("brand"))
        dispatcher.utter_message(
            text=say("resume_guide", tracker, title=article.title, number=number, total=total),
            buttons=[
                {"title": say("button_resume", tracker, number=number), "payload": "/affirm"},
                button("button_something_else", "/deny", tracker),
            ],
        )
        return [*events, SlotSet("step", following), SlotSet("awaiting", "resume")]
