#!/usr/bin/env python3
"""Writes knowledge/history/conversations.jsonl: the sample store's support history, one
conversation per line in the shape Intercom's GET /conversations/{id} returns (2.16), for
`frontdesk replay`.

Deterministic (seeded); standard library only. Run from the repository root:

    python3 knowledge/history/generate.py

How it is made (see README.md next to it): customer questions are hand-written for this
file, several phrasings per help article, and are never taken from knowledge/eval/. They are
wrapped in greetings, context and sign-offs, and get typos, lower case or missing
punctuation at random. What teammates did (reply, linked article, tags, team, close,
rating) follows each scenario's usual course, with the noise real teams have: replies
without a link, missing tags, conversations left open, follow-up questions.
"""

import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "conversations.jsonl"
COUNT = 600
START = 1777593600  # 2026-05-01T00:00:00Z
END = 1793491200  # 2026-11-01T00:00:00Z

TEAMS = {"orders": 5017691, "billing": 5017692, "accounts": 5017693, "support": 5017694}
TEAMMATES = [814860, 814861, 814862, 814863]

# Intent of each article (config/intents.toml names), its tag and team.
INTENTS = {
    "returns_refunds": ("returns", "orders"),
    "shipping": ("shipping", "orders"),
    "order_changes": ("order-changes", "orders"),
    "account_access": ("account-access", "accounts"),
    "manage_account": ("account", "accounts"),
    "purchase_dispute": ("purchase-dispute", "billing"),
    "subscription": ("subscription", "billing"),
    "troubleshoot_site": ("site-issue", "support"),
    "product_questions": ("product-question", "support"),
    "payment_dispute": ("payment-dispute", "billing"),
}

# article id -> (intent, customer phrasings)
QUESTIONS = {
    "add-item-to-order": ("order_changes", [
        "I just placed an order and forgot the belt, can you add it to the same order?",
        "is it possible to add one more shirt to an order I already made",
        "Can I still put another item in my order before it ships?",
    ]),
    "add-item-to-refund": ("returns_refunds", [
        "I already have a refund going for the boots, can I add the jacket to it too?",
        "how do i add a second item to my existing refund request",
    ]),
    "cancel-order": ("order_changes", [
        "Please cancel my order, I ordered the wrong thing",
        "I want to cancel order 3348917502 before it ships",
        "how can i cancel an order i placed this morning?",
    ]),
    "card-declined": ("troubleshoot_site", [
        "My credit card keeps getting declined at checkout but it works everywhere else",
        "checkout says card not accepted, what do I do?",
        "Why won't your site take my visa card",
    ]),
    "cart-not-updating": ("troubleshoot_site", [
        "I add things to my cart but the cart stays empty",
        "the shopping cart wont update when I change the quantity",
    ]),
    "change-account-payment-method": ("manage_account", [
        "How do I change the card saved on my account?",
        "i need to update the payment method on my profile, the old card expired",
    ]),
    "change-address": ("manage_account", [
        "I moved, how do I update the address on my account?",
        "need to change my home address in my profile",
    ]),
    "change-name": ("manage_account", [
        "I got married and need to change the name on my account",
        "How can I correct the spelling of my name on my account?",
    ]),
    "change-order-payment-method": ("order_changes", [
        "Can I pay for my order with a different card than the one I used?",
        "i want to switch the payment on my order to paypal",
    ]),
    "change-phone": ("manage_account", [
        "How do I change the phone number on my account",
        "my phone number changed, please update it",
    ]),
    "change-shipping-details": ("order_changes", [
        "I entered the wrong shipping address on my order, can you fix it?",
        "Can my order be sent to my office instead of home?",
        "need to change the delivery address for an order that hasnt shipped",
    ]),
    "charged-for-order-not-placed": ("purchase_dispute", [
        "There is a charge from you on my statement but I never ordered anything",
        "I was billed for an order I did not place!",
    ]),
    "charged-twice-for-item": ("purchase_dispute", [
        "I ordered one pair of jeans but got charged for two",
        "you billed me twice for the same shirt",
    ]),
    "contact-us": ("product_questions", [
        "What are your customer service hours?",
        "Is there a phone number I can call you on?",
    ]),
    "delay-delivery": ("shipping", [
        "I'm away next week, can you hold my delivery until I'm back?",
        "Can the delivery be pushed back a few days?",
    ]),
    "membership-levels": ("manage_account", [
        "What's the difference between gold and silver membership?",
        "how do i become a gold member",
        "What do I get as a bronze member?",
    ]),
    "missing-credit": ("manage_account", [
        "My store credit disappeared from my account",
        "I had a $20 credit and now it's gone, where did it go?",
    ]),
    "missing-item": ("shipping", [
        "My package says delivered but I never got it",
        "one item was missing from the box I received",
        "Order arrived without the jacket, only the boots were inside",
    ]),
    "out-of-stock": ("product_questions", [
        "The boots I want are out of stock, when will you get more?",
        "will the black jacket in medium be restocked",
    ]),
    "pay-subscription-bill": ("subscription", [
        "How do I pay my subscription bill?",
        "i want to pay off my premium subscription now",
    ]),
    "premium-subscription": ("subscription", [
        "How much is the premium subscription?",
        "Is my premium membership still active?",
    ]),
    "price-changed": ("purchase_dispute", [
        "The jeans I bought yesterday are cheaper today, can I get the difference back?",
        "price dropped right after I ordered, can you refund the difference",
    ]),
    "product-questions": ("product_questions", [
        "Do your jeans run small or true to size?",
        "Are the leather boots waterproof?",
    ]),
    "promo-code-not-working": ("purchase_dispute", [
        "My promo code says invalid at checkout",
        "the discount code from your email isn't working",
        "Why doesn't my coupon code apply to my order?",
    ]),
    "recover-username": ("account_access", [
        "I forgot my username, how do I find it?",
        "cant remember what my username is",
    ]),
    "refund-methods": ("returns_refunds", [
        "How will I get my refund, back on my card?",
        "can I get the refund as store credit instead",
    ]),
    "refund-not-received": ("returns_refunds", [
        "I sent my return two weeks ago and still no refund",
        "Returned the shirt but the money never came back to my account",
    ]),
    "refund-status": ("returns_refunds", [
        "Can you check the status of my refund?",
        "where is my refund at?",
    ]),
    "reset-password": ("account_access", [
        "I can't log in, I forgot my password",
        "how do I reset my password",
        "password reset email never arrives",
    ]),
    "return-shipping-label": ("returns_refunds", [
        "How do I get a shipping label to send my return?",
        "do I have to pay for the return postage",
    ]),
    "return-stained-item": ("returns_refunds", [
        "The shirt I received has a stain on it",
        "my new jacket came dirty, I want to send it back",
    ]),
    "return-wrong-color": ("returns_refunds", [
        "The color looks totally different from the picture, can I return it?",
        "ordered navy but it's more like purple",
    ]),
    "return-wrong-size": ("returns_refunds", [
        "The boots are too small, can I exchange them for a bigger size?",
        "jeans don't fit, how do I return them",
    ]),
    "returns-policy": ("returns_refunds", [
        "How long do I have to return something?",
        "What is your return policy for silver members?",
        "can I still return an item I bought 2 months ago",
    ]),
    "search-not-working": ("troubleshoot_site", [
        "The search bar on your website doesn't return anything",
        "search isn't working, I can't find any products",
    ]),
    "service-removed": ("manage_account", [
        "A service I had was removed from my account without notice",
        "my extended warranty service vanished from my account",
    ]),
    "shipping-costs": ("shipping", [
        "How much is shipping?",
        "Can you waive the shipping fee on my order?",
        "why did I pay 8 dollars for shipping",
    ]),
    "shipping-status": ("shipping", [
        "Where is my order? I ordered last week",
        "can you tell me when my package will arrive",
        "What's the status of my order 2230985632?",
    ]),
    "subscription-amount-due": ("subscription", [
        "How much do I still owe on my subscription?",
        "what's the balance on my premium subscription",
    ]),
    "subscription-due-date": ("subscription", [
        "When is my next subscription payment due?",
        "what day do I need to pay the subscription by",
    ]),
    "subscription-extension": ("subscription", [
        "I can't pay my subscription this week, can I get an extension?",
        "my payment is late, can you give me more time",
    ]),
    "two-factor-authentication": ("account_access", [
        "I lost my phone and can't get the two-factor code",
        "how do I reset 2FA on my account",
    ]),
    "unexpected-fee": ("purchase_dispute", [
        "There's a fee on my order I didn't expect",
        "what is this extra charge on my receipt?",
    ]),
    "unexpected-service-added": ("manage_account", [
        "A service was added to my account that I never asked for",
        "why am I being charged for a service I didn't sign up for",
    ]),
    "upgrade-to-overnight-shipping": ("shipping", [
        "Can I upgrade my order to overnight shipping?",
        "I need my order by tomorrow, is faster shipping possible",
    ]),
    "verifying-your-identity": ("account_access", [
        "Why do you need my zip code and email to verify me?",
        "how do you check it's really me",
    ]),
    "website-slow": ("troubleshoot_site", [
        "Your website is super slow today",
        "pages take forever to load on your site",
    ]),
}

# Questions no article answers: a teammate answers from their own knowledge.
UNANSWERABLE = [
    ("product_questions", "Do you ship to Canada?", "Yes, we ship to Canada; customs fees are paid on delivery."),
    ("product_questions", "Can I pay with bitcoin?", "We don't accept cryptocurrency, sorry: cards and PayPal only."),
    ("product_questions", "Do you have a store in Chicago I can visit?", "We're online only, no physical stores."),
    ("product_questions", "Are your shirts made from organic cotton?", "Some of them are: look for the organic label on the product page."),
    ("product_questions", "Do you sell gift cards?", "Yes! Gift cards are at the bottom of the home page."),
    ("shipping", "Can I pick up my order from your warehouse?", "Sorry, we can't offer pickup from the warehouse."),
    ("order_changes", "Can you gift wrap my order?", "We've added gift wrapping to your order."),
    ("product_questions", "Is there a student discount?", "We don't have a student discount at the moment."),
    ("manage_account", "Can two people share one account?", "Each account is for one person, but you can add several addresses."),
    ("product_questions", "What's the warranty on your boots?", "Our boots have a one-year warranty against manufacturing defects."),
]

HUMAN = [
    "I want to talk to a real person please",
    "Can I speak to someone? not a bot",
    "representative please",
    "Let me talk to an agent about my order",
    "I need a human to help me with a refund, this is complicated",
]
ANGRY = [
    "This is RIDICULOUS. Third time my order is late and nobody answers!!!",
    "Worst service ever. I want my money back NOW",
    "I'm furious, you charged me and the package never came. Unacceptable.",
    "your site is useless and so is your support",
    "Absolutely disgusting customer service, I've been waiting for 2 weeks for my refund",
]
OFF_TOPIC = [
    "what's the weather like in paris tomorrow",
    "Can you recommend a good pizza place?",
    "who won the football game last night",
    "Are you hiring? I'd like to apply for a job",
    "what is the meaning of life",
    "Tell me a joke",
]
SPAM = [
    ("Out of office", "I am out of the office until Monday with limited access to email. For urgent matters contact my colleague."),
    ("Automatic reply", "This is an automatic reply. Your message has been received."),
    ("SEO services", "Hello, we offer SEO services and backlinks to grow your store traffic by 300%. Reply for prices."),
    ("Guest post", "Hi, I'd like to write a guest post for your blog. We pay $50 per article."),
    ("Delivery Status Notification", "Mail delivery failed: returning message to sender. Undeliverable."),
]
CHARGEBACK = [
    "I'm going to dispute this charge with my bank, I want a chargeback",
    "I've filed a chargeback with my credit card company for order 2290113",
]
LEGAL = [
    "If this isn't fixed today I'll contact my lawyer",
    "I'm going to take legal action over this",
]

GREETINGS = ["", "", "Hi, ", "Hello! ", "Hi there, ", "Good morning. ", "hey ", "Hello, "]
CONTEXT = ["", "", "", "I ordered last week. ", "Quick question. ", "I'm a gold member. ", "Sorry to bother you. "]
SIGNOFFS = ["", "", "", " Thanks!", " Thank you.", " thx", " Cheers, Anna", " Regards, Tom"]
FOLLOW_UPS = [
    "Thanks, that helps!",
    "ok thank you",
    "Great, thanks a lot",
    "And how long will that take?",
    "That didn't answer my question though",
    "Do I need to do anything else?",
]
NAMES = ["Anna Kowalski", "Tom Baker", "Priya Shah", "Luis Ortega", "Mei Chen", "Sam Okafor", "Joe Bloggs", "Lena Fischer"]


def typo(text, rng):
    """Realistic noise: a swapped or dropped letter, lower case, no final punctuation."""
    words = text.split(" ")
    if rng.random() < 0.35 and len(words) > 2:
        i = rng.randrange(len(words))
        w = words[i]
        if len(w) > 4:
            j = rng.randrange(1, len(w) - 2)
            w = w[:j] + w[j + 1] + w[j] + w[j + 2:] if rng.random() < 0.5 else w[:j] + w[j + 1:]
            words[i] = w
    text = " ".join(words)
    if rng.random() < 0.25:
        text = text.lower()
    if rng.random() < 0.2:
        text = text.rstrip("?.!")
    return text


def article_answer(article_id):
    """The teammate's answer: the article's first real sentence or two, as a person would paste."""
    text = (ROOT / "knowledge" / f"{article_id}.md").read_text()
    body = text.split("---", 2)[2]
    lines = [l.strip() for l in body.splitlines() if l.strip() and not l.startswith("#")]
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(lines))
    return " ".join(sentences[:2])


def url_of(article_id):
    text = (ROOT / "knowledge" / f"{article_id}.md").read_text()
    return re.search(r"^url:\s*(\S+)", text, re.M).group(1)


class Builder:
    def __init__(self, rng, cid, at):
        self.rng = rng
        self.cid = cid
        self.at = at
        self.parts = []
        self.user = f"6762f1571bb69f9f2193{cid:04x}"
        self.name = rng.choice(NAMES)

    def tick(self, lo=40, hi=3600):
        self.at += self.rng.randint(lo, hi)
        return self.at

    def customer(self, text, lo=40, hi=3600):
        self.parts.append({
            "type": "conversation_part", "id": str(9_000_000 + self.cid * 20 + len(self.parts)),
            "part_type": "comment", "body": f"<p>{escape(text)}</p>", "created_at": self.tick(lo, hi), "updated_at": self.at,
            "notified_at": self.at, "assigned_to": None, "author": {"type": "user", "id": self.user, "name": self.name, "email": "customer@example.com"},
            "attachments": [], "external_id": None, "redacted": False, "app_package_code": None,
        })

    def teammate(self, text, admin, url=None, kind="comment"):
        body = f"<p>{escape(text)}</p>"
        if url:
            body += f'<p>More here: <a href="{url}">{url}</a></p>'
        self.parts.append({
            "type": "conversation_part", "id": str(9_000_000 + self.cid * 20 + len(self.parts)),
            "part_type": kind, "body": body, "created_at": self.tick(120, 14_400), "updated_at": self.at,
            "notified_at": self.at, "assigned_to": None,
            "author": {"type": "admin", "id": str(admin), "name": "Teammate", "email": "team@example-store.com", "from_ai_agent": False, "is_ai_answer": False},
            "attachments": [], "external_id": None, "redacted": False, "app_package_code": None,
        })

    def event(self, part_type, admin, extra=None):
        part = {
            "type": "conversation_part", "id": str(9_000_000 + self.cid * 20 + len(self.parts)),
            "part_type": part_type, "body": None, "created_at": self.tick(5, 60), "updated_at": self.at,
            "notified_at": self.at, "assigned_to": None,
            "author": {"type": "admin", "id": str(admin), "name": "Teammate", "email": "team@example-store.com"},
            "attachments": [], "external_id": None, "redacted": False, "app_package_code": None,
        }
        part.update(extra or {})
        self.parts.append(part)


def escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def conversation(rng, cid):
    created = rng.randint(START, END)
    b = Builder(rng, cid, created)
    roll = rng.random()
    admin = rng.choice(TEAMMATES)
    attributes = {}
    rating = None
    subject = ""
    if roll < 0.56:
        scenario = "answerable"
        article = rng.choice(sorted(QUESTIONS))
        intent, phrasings = QUESTIONS[article]
        opening = rng.choice(GREETINGS) + rng.choice(CONTEXT) + typo(rng.choice(phrasings), rng) + rng.choice(SIGNOFFS)
    elif roll < 0.64:
        scenario = "unanswerable"
        intent, opening, answer = rng.choice(UNANSWERABLE)
        opening = rng.choice(GREETINGS) + typo(opening, rng)
        article = None
    elif roll < 0.71:
        scenario = "wants_human"
        intent, opening, article = None, typo(rng.choice(HUMAN), rng), None
    elif roll < 0.78:
        scenario = "angry"
        intent, opening, article = None, rng.choice(ANGRY), None
    elif roll < 0.83:
        scenario = "off_topic"
        intent, opening, article = None, typo(rng.choice(OFF_TOPIC), rng), None
    elif roll < 0.88:
        scenario = "spam"
        subject, opening = rng.choice(SPAM)
        intent, article = None, None
    elif roll < 0.92:
        scenario = "chargeback"
        intent, opening, article = "payment_dispute", rng.choice(CHARGEBACK), None
    elif roll < 0.94:
        scenario = "legal"
        intent, opening, article = None, rng.choice(LEGAL), None
    else:
        scenario = "vip"
        article = rng.choice(sorted(QUESTIONS))
        intent, phrasings = QUESTIONS[article]
        opening = rng.choice(GREETINGS) + rng.choice(phrasings)
        attributes["vip"] = "true"

    tags = []
    team = None
    state = "closed"
    if scenario in ("answerable", "vip"):
        tag, team = INTENTS[intent]
        if rng.random() < 0.85:
            tags.append(tag)
        link = url_of(article) if rng.random() < 0.6 else None
        b.teammate(("Hi! " if rng.random() < 0.5 else "") + article_answer(article), admin, link)
        follow = rng.random()
        if follow < 0.2:
            b.customer(typo(rng.choice(FOLLOW_UPS[:3]), rng))
        elif follow < 0.35:
            b.customer(typo(rng.choice(FOLLOW_UPS[3:]), rng))
            b.teammate("Sure, let me check that for you. " + rng.choice(["It takes 3-5 business days.", "Nothing else is needed on your side.", "I've passed this to my colleague who will follow up."]), admin)
        if rng.random() < 0.12:
            state = "open"
        if rng.random() < 0.3:
            rating = rng.choice([5, 5, 5, 4, 4, 3, 2])
    elif scenario == "unanswerable":
        tag, team = INTENTS[intent]
        if rng.random() < 0.6:
            tags.append(tag)
        b.teammate(answer, admin)
        if rng.random() < 0.2:
            rating = rng.choice([5, 4, 3])
    elif scenario == "wants_human":
        tags.append("wants-human")
        team = rng.choice(["orders", "support"])
        b.teammate("Hi, I'm here. How can I help you today?", admin)
        b.customer(typo(rng.choice([q for _, qs in QUESTIONS.values() for q in qs]), rng))
        b.teammate("Thanks, I've sorted that out for you.", admin)
    elif scenario == "angry":
        tags.append("complaint")
        team = "orders"
        b.teammate("I'm really sorry about this. I've looked into your order and escalated it; you'll hear from us within 24 hours.", admin)
        if rng.random() < 0.4:
            rating = rng.choice([1, 2, 3])
        if rng.random() < 0.3:
            state = "open"
    elif scenario == "off_topic":
        team = "support"
        b.teammate("Sorry, that's not something we can help with here. Is there anything about an order I can help with?", admin)
    elif scenario == "spam":
        tags.append("spam")
    elif scenario == "chargeback":
        tags.append("payment-dispute")
        team = "billing"
        b.teammate("I understand. I've forwarded this to our billing team, who handle disputes; they'll contact you by email.", admin)
    elif scenario == "legal":
        tags.append("legal")
        team = "support"
        b.teammate("I'm sorry it came to this. A senior colleague will contact you today.", admin)
        state = "open"
    if scenario == "vip":
        tags.append("vip")
    if state == "closed":
        b.event("close", admin)

    conversation_rating = None
    if rating is not None:
        conversation_rating = {"rating": rating, "remark": None, "created_at": b.tick(60, 600), "updated_at": b.at,
                               "contact": {"type": "contact", "id": b.user}, "teammate": {"type": "admin", "id": str(admin)}}
    parts = b.parts
    return {
        "type": "conversation", "id": str(4_100_000 + cid), "title": None, "created_at": created, "updated_at": b.at,
        "waiting_since": None, "snoozed_until": None, "open": state != "closed", "state": state, "read": True,
        "priority": "none", "admin_assignee_id": admin if scenario != "spam" else 0,
        "team_assignee_id": TEAMS[team] if team else 0,
        "tags": {"type": "tag.list", "tags": [{"type": "tag", "id": str(700 + i), "name": t} for i, t in enumerate(tags)]},
        "conversation_rating": conversation_rating,
        "source": {"type": "conversation", "id": str(500_000 + cid), "delivered_as": "customer_initiated", "subject": subject,
                   "body": f"<p>{escape(opening)}</p>", "author": {"type": "user", "id": b.user, "name": b.name, "email": "customer@example.com"},
                   "attachments": [], "url": None, "redacted": False},
        "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": b.user, "external_id": None}]},
        "teammates": {"type": "admin.list", "teammates": [{"type": "admin", "id": str(admin)}]},
        "custom_attributes": attributes,
        "statistics": None, "ai_agent_participated": False, "ai_agent": None,
        "conversation_parts": {"type": "conversation_part.list", "conversation_parts": parts, "total_count": len(parts)},
    }


# Conversations where teammates used the shop's admin: looked an order up, cancelled it,
# refunded it (the declared actions in config/actions.toml do the same). Made with their own
# seeded generator after the others, so adding them left every other line as it was.
ACTION_COUNT = 48
FIXTURES = ROOT / "knowledge" / "actions" / "fixtures.jsonl"
STATUS_ASKS = [
    "Where is my order #{id}?",
    "hi, can you track my order {id} please",
    "Has my order {id} shipped yet?",
    "What's the order status of {id}? It's been a week",
]
CANCEL_ASKS = [
    "Please cancel my order {id}, I ordered the wrong size",
    "I need to cancel order #{id}",
    "can you cancel the order {id}? I changed my mind",
]
CANCEL_NO_ID = ["I want to cancel my order", "please cancel my order, I don't need it anymore"]
GIVE_ID = ["it's {id}", "#{id}", "order number {id}"]
YES = ["yes please", "Yes", "yes", "yep", "Yes, please do"]
NO = ["no wait, keep it", "No", "actually no, I'll keep it"]
REFUND_ASKS = [
    "I want a refund of ${amount} for order {id}, it arrived damaged",
    "refund my order {id} please, ${amount}, the zip broke on day one",
    "I want my money back: ${amount} on order #{id}, wrong item sent",
]


def orders(rng):
    """The shop's orders these conversations are about: id -> (status, eta)."""
    out = {}
    while len(out) < ACTION_COUNT:
        order_id = str(rng.randint(5_100_000, 5_999_999))
        status = rng.choices(["pending", "shipped", "delivered"], [0.6, 0.25, 0.15])[0]
        day = rng.randint(3, 28)
        out[order_id] = (status, f"2026-11-{day:02d}" if status != "delivered" else None)
    return out


def action_conversation(rng, cid, order_id, order):
    """One conversation about an order: status, cancel (with or without its number, yes or no),
    or a refund (under or over the $100 a lead must approve)."""
    status, eta = order
    created = rng.randint(START, END)
    b = Builder(rng, cid, created)
    admin = rng.choice(TEAMMATES)
    roll = rng.random()
    tags = []
    say = lambda text: b.teammate(text, admin)
    note = lambda text: b.teammate(text, admin, kind="note")
    if roll < 0.3:
        opening = rng.choice(STATUS_ASKS).format(id=order_id)
        tags.append("shipping")
        note(f"Looked up order {order_id} in the shop admin: {status}.")
        say(f"Your order {order_id} is {status}" + (f"; it should arrive by {eta}." if eta else "."))
    elif roll < 0.75:
        tags.append("order-changes")
        if roll < 0.62:
            opening = rng.choice(CANCEL_ASKS).format(id=order_id)
        else:
            opening = rng.choice(CANCEL_NO_ID)
            say("Sure, what's the order number?")
            b.customer(rng.choice(GIVE_ID).format(id=order_id), 20, 900)
        if status != "pending":
            note(f"Looked up order {order_id} in the shop admin: {status}.")
            say(f"Sorry, order {order_id} has already {status if status != 'delivered' else 'been delivered'}, so it can't be cancelled. You can return it once it arrives.")
        else:
            say(f"Can you confirm you want order {order_id} cancelled?")
            if rng.random() < 0.8:
                b.customer(rng.choice(YES), 20, 900)
                note(f"Cancelled order {order_id} in the shop admin.")
                say(f"Done, order {order_id} is cancelled. The refund reaches your card in 5-7 days.")
            else:
                b.customer(rng.choice(NO), 20, 900)
                say("No problem, your order stays as it is.")
    else:
        tags.append("returns")
        amount = rng.choice([15, 25, 40, 60, 85]) if rng.random() < 0.65 else rng.choice([150, 240, 320])
        opening = rng.choice(REFUND_ASKS).format(id=order_id, amount=amount)
        if amount > 100:
            note(f"Refund of ${amount} is over $100: asking a lead to approve.")
            say(f"I've asked my lead to approve the refund of ${amount}; you'll hear from us today.")
            note(f"Refunded ${amount} on order {order_id} after the lead's approval.")
        else:
            say(f"Can you confirm you want ${amount} refunded on order {order_id} to your card?")
            b.customer(rng.choice(YES), 20, 900)
            note(f"Refunded ${amount} on order {order_id}.")
            say(f"Done: ${amount} is on its way back to your card.")
    b.event("close", admin)
    parts = b.parts
    return {
        "type": "conversation", "id": str(4_100_000 + cid), "title": None, "created_at": created, "updated_at": b.at,
        "waiting_since": None, "snoozed_until": None, "open": False, "state": "closed", "read": True,
        "priority": "none", "admin_assignee_id": admin, "team_assignee_id": TEAMS["orders"],
        "tags": {"type": "tag.list", "tags": [{"type": "tag", "id": str(700 + i), "name": t} for i, t in enumerate(tags)]},
        "conversation_rating": None,
        "source": {"type": "conversation", "id": str(500_000 + cid), "delivered_as": "customer_initiated", "subject": "",
                   "body": f"<p>{escape(opening)}</p>", "author": {"type": "user", "id": b.user, "name": b.name, "email": "customer@example.com"},
                   "attachments": [], "url": None, "redacted": False},
        "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": b.user, "external_id": None}]},
        "teammates": {"type": "admin.list", "teammates": [{"type": "admin", "id": str(admin)}]},
        "custom_attributes": {},
        "statistics": None, "ai_agent_participated": False, "ai_agent": None,
        "conversation_parts": {"type": "conversation_part.list", "conversation_parts": parts, "total_count": len(parts)},
    }


def fixtures(shop):
    """What the shop's API answers about each order, for the replay (any email: `*`)."""
    lines = []
    for order_id, (status, eta) in sorted(shop.items()):
        lines.append({"method": "GET", "path": f"/orders/{order_id}?email=*", "body": {"id": order_id, "status": status, "eta": eta}})
        if status == "pending":
            lines.append({"method": "POST", "path": f"/orders/{order_id}/cancel", "body": {"id": order_id, "status": "cancelled"}})
        else:
            lines.append({"method": "POST", "path": f"/orders/{order_id}/cancel", "status": 409, "body": {"error": f"order is {status}"}})
        lines.append({"method": "POST", "path": f"/orders/{order_id}/refund", "body": {"refund_id": f"R-{order_id}", "status": "issued"}})
    return lines


def main():
    rng = random.Random(20261124)
    rows = [conversation(rng, i) for i in range(COUNT)]
    shop_rng = random.Random(20261206)
    shop = orders(shop_rng)
    # The cancel phrasing above quotes an order of its own: it has shipped.
    shop["3348917502"] = ("shipped", "2026-11-20")
    ids = sorted(k for k in shop if k != "3348917502")
    rows += [action_conversation(shop_rng, COUNT + i, order_id, shop[order_id]) for i, order_id in enumerate(ids)]
    rows.sort(key=lambda c: c["created_at"])
    with OUT.open("w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    FIXTURES.parent.mkdir(exist_ok=True)
    with FIXTURES.open("w") as f:
        for line in fixtures(shop):
            f.write(json.dumps(line) + "\n")
    print(f"wrote {len(rows)} conversations to {OUT.relative_to(ROOT)}, the shop's answers to {FIXTURES.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
