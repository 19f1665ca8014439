"""Write every benchmark's ``data.jsonl`` from our own word lists and templates.

    python examples/benchmarks/generate.py              # rewrite the checked-in files
    python examples/benchmarks/generate.py --out DIR    # write DIR/<task>/data.jsonl instead

Standard library only and deterministic: each task draws from its own ``random.Random`` seeded
with a fixed string, so the output is byte-for-byte the same on every run and platform. Nothing
here is copied from a public dataset; the word lists and templates are written for this suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SEED = "prompt-tuner-benchmarks-v1"

Record = dict[str, Any]

# --------------------------------------------------------------------------- shared word lists

FEMALE = ["Ana", "Chloe", "Elif", "Grace", "Ines", "Kemi", "Mei", "Nadia", "Priya", "Rosa", "Uma",
          "Wen", "Ximena", "Zoe", "Bianca", "Dalia", "Freya", "Hana", "Jade", "Lena", "Amara", "Sofia"]
MALE = ["Ben", "Dev", "Farid", "Hiro", "Jonas", "Liam", "Omar", "Sami", "Tariq", "Viktor", "Yusuf",
        "Aaron", "Carlos", "Emeka", "Goran", "Ivan", "Kofi", "Mateo", "Noah", "Pavel", "Rafael", "Tomas"]
SURNAMES = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Kowalski", "Haddad", "Fernandes", "Novak",
            "Brennan", "Castillo", "Ivanova", "Mensah", "Park", "Rossi", "Schmidt", "Yilmaz", "Duarte",
            "Nakamura", "O'Neill", "Petrov", "Quispe", "Sato", "Vargas", "Weber", "Zhou", "Abara",
            "Bauer", "Chen", "Dubois", "Eriksen", "Gallo", "Holm", "Iqbal", "Jensen", "Kaur", "Larsen"]
CITIES = ["Lisbon", "Nairobi", "Osaka", "Toronto", "Lyon", "Krakow", "Austin", "Porto", "Accra", "Seoul",
          "Denver", "Ghent", "Valencia", "Leeds", "Perth", "Cape Town", "San Diego", "Buenos Aires",
          "New Delhi", "Hamburg", "Oslo", "Dublin", "Quito", "Hanoi", "Tunis", "Tallinn", "Bergen",
          "Cork", "Adelaide", "Montreal", "Bologna", "Kyoto", "Salt Lake City", "Rio de Janeiro"]
CITY_COUNTRY = {"Lisbon": "Portugal", "Porto": "Portugal", "Nairobi": "Kenya", "Osaka": "Japan",
                "Kyoto": "Japan", "Toronto": "Canada", "Montreal": "Canada", "Lyon": "France",
                "Krakow": "Poland", "Accra": "Ghana", "Seoul": "South Korea", "Ghent": "Belgium",
                "Valencia": "Spain", "Leeds": "England", "Perth": "Australia", "Adelaide": "Australia",
                "Hamburg": "Germany", "Oslo": "Norway", "Bergen": "Norway", "Dublin": "Ireland",
                "Cork": "Ireland", "Quito": "Ecuador", "Hanoi": "Vietnam", "Tunis": "Tunisia",
                "Tallinn": "Estonia", "Bologna": "Italy"}


def person(rng: random.Random) -> tuple[str, str, str]:
    """(first name, subject pronoun, possessive pronoun)."""
    if rng.random() < 0.5:
        return rng.choice(FEMALE), "she", "her"
    return rng.choice(MALE), "he", "his"


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def unique(rng: random.Random, n: int, make: Callable[[random.Random], Record],
           key: Callable[[Record], str]) -> list[Record]:
    """``n`` records from ``make`` with distinct ``key``s, in generation order."""
    out: list[Record] = []
    seen: set[str] = set()
    for _ in range(n * 200):
        rec = make(rng)
        k = key(rec)
        if k not in seen:
            seen.add(k)
            out.append(rec)
            if len(out) == n:
                return out
    raise RuntimeError(f"could not make {n} distinct records (got {len(out)}); add more variety")


def interleave(groups: list[list[Record]], rng: random.Random) -> list[Record]:
    out = [r for g in groups for r in g]
    rng.shuffle(out)
    return out


# --------------------------------------------------------------------------- sentiment

PRODUCTS = ["blender", "pair of headphones", "backpack", "desk lamp", "phone case", "coffee maker",
            "pair of running shoes", "kettle", "office chair", "keyboard", "water bottle",
            "rain jacket", "toaster", "vacuum cleaner", "yoga mat", "tent", "electric toothbrush",
            "frying pan", "smartwatch", "umbrella", "bike light", "sleeping bag", "hair dryer",
            "printer", "wireless mouse", "rice cooker", "suitcase", "baby monitor"]
POS_ASPECTS = ["works perfectly", "arrived a day early", "feels solid and well made",
               "is much quieter than I expected", "was easy to set up", "is worth every penny",
               "has held up after months of daily use", "looks even better than the photos",
               "does exactly what it promises", "is comfortable to use for hours",
               "has a battery that lasts for days", "is simple to clean",
               "replaced two gadgets I used to own", "gets compliments every time I use it",
               "still works like new after a year"]
NEG_ASPECTS = ["stopped working after a week", "arrived scratched and dented", "feels cheap and flimsy",
               "is far too loud", "came with useless instructions", "is not worth the price",
               "broke the second time I used it", "smells like burnt plastic",
               "has a battery that dies within an hour", "is impossible to clean",
               "looks nothing like the photos", "leaks every single time", "overheats after ten minutes",
               "has buttons that stick", "fell apart in the first month"]
POS_MINOR = ["took a while to arrive", "came in ugly packaging", "is a bit heavy",
             "was slightly pricey", "has a confusing manual", "only comes in two colours"]
NEG_MINOR = ["looks nice", "arrived on time", "came in a lovely box", "was cheap",
             "has a pretty colour", "was easy to order"]
POS_CLOSERS = ["Highly recommend.", "Would buy again.", "Five stars.", "My whole family loves it.",
               "Best purchase this year.", "Very happy with it.", "No complaints at all.", ""]
NEG_CLOSERS = ["Returning it.", "Save your money.", "One star.", "Very disappointed.",
               "Would not buy again.", "Avoid.", "What a waste.", ""]
SUBJECTS = ["This {p}", "The {p}", "My new {p}", "The {p} I ordered", "This {p} from the sale"]


def sentiment_record(rng: random.Random, label: str) -> Record:
    pos = label == "positive"
    aspects, minors, closers = ((POS_ASPECTS, POS_MINOR, POS_CLOSERS) if pos
                                else (NEG_ASPECTS, NEG_MINOR, NEG_CLOSERS))
    product = rng.choice(PRODUCTS)
    subject = rng.choice(SUBJECTS).format(p=product)
    closer = rng.choice(closers)
    kind = rng.choice(["easy", "easy", "medium", "hard", "hard"])
    if kind == "easy":
        text = f"{subject} {rng.choice(aspects)}."
    elif kind == "medium":
        a, b = rng.sample(aspects, 2)
        text = f"{subject} {a}, and it {b}."
    else:
        a = rng.choice(aspects)
        minor = rng.choice(minors)
        text = rng.choice([
            f"{subject} {minor}, but it {a}.",
            f"Sure, the {product} {minor}. Still, it {a}.",
            f"I know the {product} {minor}; what matters is that it {a}.",
            (f"I almost sent the {product} back, but it {a}." if pos
             else f"I wanted to love this {product}, but it {a}."),
            (f"I didn't expect much, and yet it {a}." if pos
             else f"I expected great things, and yet it {a}."),
        ])
        closer = rng.choice(["", closer])
    review = f"{text} {closer}".strip()
    return {"review": review, "expected": label, "difficulty": kind}


def gen_sentiment(rng: random.Random) -> list[Record]:
    groups = [unique(rng, 80, partial(sentiment_record, label=lab), lambda x: x["review"])
              for lab in ("positive", "negative")]
    return interleave(groups, rng)


# --------------------------------------------------------------------------- intent (bank)

ACCOUNTS = ["checking", "savings", "joint", "business", "current", "student"]
MERCHANTS = ["FreshMart", "CityRide", "Pixel Games", "Lumen Streaming", "Harbor Cafe", "GoFuel",
             "BrightBooks", "Northline Air", "Cozy Home", "QuickPark"]
PLACES = ["gym", "cinema", "train station", "supermarket", "airport", "restaurant", "hotel", "beach"]
STREETS = ["Maple Street", "Harbour Road", "Elm Avenue", "Station Lane", "Park Crescent", "Mill Road"]
LOAN_KINDS = ["car", "personal", "student", "home improvement", "business"]
BIG_THINGS = ["a car", "a flat", "a new kitchen", "a small boat", "a house", "solar panels"]
RELATIVES = ["mother", "brother", "sister", "son", "daughter", "grandfather", "friend"]
COUNTRIES = ["Kenya", "Japan", "Canada", "Poland", "Brazil", "Ireland", "Vietnam", "Ghana", "Spain"]

INTENT_TEMPLATES: dict[str, list[tuple[str, str]]] = {
    "balance": [
        ("easy", "How much money do I have in my {acct} account?"),
        ("easy", "What's my current balance?"),
        ("easy", "balance on my {acct} account pls"),
        ("easy", "Can you tell me what's left in my {acct} account?"),
        ("medium", "Do I have enough in my {acct} account to cover {amount} for rent this week?"),
        ("medium", "Did my salary come in yet? I want to see how much is in my account."),
        ("medium", "Show me the available funds on my {acct} account."),
        ("hard", "Before I send {name} the {amount} I owe, how much is actually in my {acct} account?"),
        ("hard", "I don't want a loan, I just want to know how much is in my {acct} account right now."),
    ],
    "transfer": [
        ("easy", "Send {amount} to {name}."),
        ("easy", "I want to move {amount} from my {acct} account to my {acct2} account."),
        ("easy", "Please transfer {amount} to {name} {surname}."),
        ("medium", "How do I send money to my {rel} in {country}?"),
        ("medium", "Pay {name} back {amount} for dinner last night."),
        ("medium", "Can I wire {amount} to an account in {country}?"),
        ("medium", "set up a monthly transfer of {amount} to {name}"),
        ("hard", "My balance is fine, I just need {amount} to go from {acct} to {acct2} today."),
        ("hard", "{name} gave me the wrong account number last time; can you send {amount} to the new one?"),
    ],
    "lost_card": [
        ("easy", "I lost my debit card."),
        ("easy", "My credit card is missing, please block it."),
        ("easy", "I can't find my bank card anywhere."),
        ("medium", "My wallet was stolen in {city} with my cards inside."),
        ("medium", "I think I left my card at the {place}, can you freeze it?"),
        ("medium", "I need a replacement card, mine went missing at the {place}."),
        ("medium", "Someone took my card from my bag at the {place}."),
        ("hard", "No strange charges yet, but my card has been gone since I was at the {place}."),
        ("hard", "Before anyone can use it, please cancel the card I dropped somewhere in {city}."),
    ],
    "loan": [
        ("easy", "What interest rate do you offer on a {loan} loan?"),
        ("easy", "I'd like to apply for a {loan} loan."),
        ("easy", "Can I borrow {big} to buy {thing}?"),
        ("medium", "How long does it take to get a mortgage approved?"),
        ("medium", "am I eligible for a {loan} loan with my salary?"),
        ("medium", "What would the monthly payment be on {big} over {years} years?"),
        ("medium", "Could I extend the term of my {loan} loan to {years} years?"),
        ("hard", "My {acct} account is too small to buy {thing}, so what are my borrowing options?"),
        ("hard", "If I transfer my salary to you, would I get a better rate on a {loan} loan?"),
    ],
    "address_change": [
        ("easy", "I moved to {city}, please update my address."),
        ("easy", "How do I change my home address?"),
        ("easy", "My new address is {num} {street}, {city}."),
        ("medium", "Please send my statements to my new flat from now on."),
        ("medium", "update my mailing address to {num} {street}"),
        ("medium", "We are relocating to {city} next month; how do I update my details?"),
        ("medium", "Your letters keep going to my old house, I live on {street} now."),
        ("hard", "My replacement card should go to {num} {street}, not my old place, since I moved."),
        ("hard", "I have lived in {city} for a month and your records still show my old street."),
    ],
    "dispute": [
        ("easy", "There's a charge from {merchant} I don't recognise."),
        ("easy", "I want to dispute a payment of {amount}."),
        ("easy", "I was charged twice at {merchant}."),
        ("medium", "{merchant} took {amount} from my account but I cancelled that order."),
        ("medium", "Why is there a {amount} payment to {merchant}? I never shopped there."),
        ("medium", "I returned the item to {merchant} but the refund of {amount} never arrived."),
        ("medium", "Please reverse the {amount} charge from {merchant}, it was a mistake."),
        ("hard", "I still have my card, but a {amount} charge from {merchant} is not mine."),
        ("hard", "My balance is {amount} lower than it should be because {merchant} billed me twice."),
    ],
}


def money(rng: random.Random) -> str:
    return rng.choice(["${}", "{} dollars", "£{}", "€{}"]).format(rng.choice(
        [20, 25, 40, 50, 75, 80, 120, 150, 200, 250, 300, 450, 500, 600, 900, 1200]))


def intent_record(rng: random.Random, label: str) -> Record:
    difficulty, template = rng.choice(INTENT_TEMPLATES[label])
    name, _, _ = person(rng)
    acct, acct2 = rng.sample(ACCOUNTS, 2)
    text = template.format(
        acct=acct, acct2=acct2, amount=money(rng), name=name, surname=rng.choice(SURNAMES),
        rel=rng.choice(RELATIVES), country=rng.choice(COUNTRIES), city=rng.choice(CITIES),
        place=rng.choice(PLACES), loan=rng.choice(LOAN_KINDS),
        big=rng.choice(["$5,000", "$12,000", "$20,000", "$35,000", "$150,000", "€8,000"]),
        thing=rng.choice(BIG_THINGS), years=rng.choice([2, 3, 5, 10, 15, 25]),
        num=rng.randint(2, 180), street=rng.choice(STREETS), merchant=rng.choice(MERCHANTS))
    return {"message": cap(text), "expected": label, "difficulty": difficulty}


def gen_intent(rng: random.Random) -> list[Record]:
    groups = [unique(rng, 30, partial(intent_record, label=lab), lambda x: x["message"])
              for lab in INTENT_TEMPLATES]
    return interleave(groups, rng)


# --------------------------------------------------------------------------- topic (news headlines)

NATIONS = ["Norway", "Chile", "Kenya", "Vietnam", "Portugal", "Canada", "Indonesia", "Morocco", "Peru",
           "Finland", "Ghana", "Mongolia", "Uruguay", "Nepal", "Tunisia", "New Zealand"]
TOWNS = ["Riverton", "Northbay", "Eastfield", "Kingsport", "Ashford", "Lakewood", "Millbrook", "Westhaven"]
MASCOTS = ["Rovers", "Hawks", "Comets", "Wolves", "Mariners", "Falcons", "Titans", "Rangers"]
COMPANY_ROOTS = ["Norvik", "Bellway", "Quantra", "Solis", "Vantor", "Meridian", "Hexa", "Corvan", "Lumio"]
COMPANY_KINDS = ["Foods", "Logistics", "Motors", "Bank", "Retail", "Energy", "Airlines", "Pharma"]
TECH_COMPANIES = ["Nimbus Labs", "Orbitek", "Pixelon", "Cobaltsoft", "Quillware", "Synapse Devices"]
DEVICES = ["foldable phone", "smart glasses", "laptop", "tablet", "home robot", "VR headset", "e-reader"]
TOPIC_TEMPLATES: dict[str, list[str]] = {
    "world": [
        "{nation} and {nation2} sign border agreement after {n} days of talks",
        "Thousands protest in the capital of {nation} over new election law",
        "Earthquake of magnitude {mag} strikes northern {nation}",
        "{nation} elects its first {adj} prime minister",
        "UN calls for ceasefire as fighting spreads near the {nation} border",
        "Foreign ministers of {nation} and {nation2} meet to ease tensions",
        "Floods force {k},000 people from their homes in {nation}",
        "{nation} recalls its ambassador from {nation2}",
        "Parliament in {nation} votes to hold early elections",
    ],
    "sports": [
        "{town} {mascot} beat {town2} {mascot2} {s1}-{s2} to reach the cup final",
        "{first} {surname} wins gold in the {event}",
        "{town} {mascot} sack coach after {n} straight defeats",
        "Injury rules striker {first} {surname} out of the {nation} qualifier",
        "{first} {surname} breaks national record in the {event}",
        "{town} {mascot} sign goalkeeper {first} {surname} on a {y}-year deal",
        "Late penalty gives {town} {mascot} a {s1}-{s2} draw",
        "{nation} names squad for the world championships",
        "Marathon champion {first} {surname} announces retirement at {age}",
    ],
    "business": [
        "{company} shares jump {p}% after strong quarterly results",
        "{company} to cut {k},000 jobs as sales slow",
        "Central bank raises interest rates to {r}%",
        "{company} agrees to buy {company2} for ${b} billion",
        "Oil prices fall for a {ord} week as demand weakens",
        "{company} profit doubles on higher prices",
        "Inflation in {nation} eases to {r}%",
        "{company} chief executive steps down after {y} years",
        "Retail sales rise {p}% in holiday quarter",
    ],
    "tech": [
        "{techco} unveils {device} with a {h}-hour battery",
        "Researchers build a battery that charges in {n} minutes",
        "Security flaw found in popular {software} app",
        "Space agency launches probe to study {planet}",
        "{techco} releases AI model that can summarise long documents",
        "Scientists map the genome of a rare {animal}",
        "New telescope spots water vapour on distant planet",
        "{techco} recalls {device} over overheating fears",
        "Study finds {animal} can recognise human faces",
    ],
}


def topic_record(rng: random.Random, label: str) -> Record:
    template = rng.choice(TOPIC_TEMPLATES[label])
    nation, nation2 = rng.sample(NATIONS, 2)
    town, town2 = rng.sample(TOWNS, 2)
    mascot, mascot2 = rng.sample(MASCOTS, 2)
    c1, c2 = rng.sample(COMPANY_ROOTS, 2)
    first, _, _ = person(rng)
    s1 = rng.randint(1, 5)
    text = template.format(
        nation=nation, nation2=nation2, n=rng.randint(3, 12), mag=rng.choice(["5.8", "6.1", "6.7", "7.2"]),
        adj=rng.choice(["female", "independent", "green", "youngest"]), k=rng.randint(2, 40),
        town=town, town2=town2, mascot=mascot, mascot2=mascot2, s1=s1, s2=rng.randint(0, s1 - 1),
        first=first, surname=rng.choice(SURNAMES),
        event=rng.choice(["400 metres", "long jump", "200m freestyle", "cycling time trial", "high jump"]),
        y=rng.randint(2, 9), age=rng.randint(31, 39),
        company=f"{c1} {rng.choice(COMPANY_KINDS)}", company2=f"{c2} {rng.choice(COMPANY_KINDS)}",
        p=rng.randint(2, 18), r=rng.choice(["2.5", "3.25", "4", "4.75", "5.5"]), b=rng.randint(1, 30),
        ord=rng.choice(["second", "third", "fourth"]), techco=rng.choice(TECH_COMPANIES),
        device=rng.choice(DEVICES), h=rng.choice([12, 24, 36, 48]),
        software=rng.choice(["messaging", "photo editing", "banking", "fitness", "password manager"]),
        planet=rng.choice(["Mars", "Venus", "Jupiter's moons", "Saturn's rings", "a comet"]),
        animal=rng.choice(["frog", "octopus", "orchid", "crow", "deep-sea fish", "bee"]))
    return {"headline": text, "expected": label}


def gen_topic(rng: random.Random) -> list[Record]:
    groups = [unique(rng, 40, partial(topic_record, label=lab), lambda x: x["headline"])
              for lab in TOPIC_TEMPLATES]
    return interleave(groups, rng)


# --------------------------------------------------------------------------- yes/no questions

TEAMS = ["design", "research", "support", "sales", "marketing", "finance"]
VENUES = ["library", "bakery", "museum", "pharmacy", "post office", "swimming pool", "bookshop"]
ITEMS = ["lamp", "jacket", "teapot", "bicycle", "rug", "camera", "guitar", "mirror"]
COLORS = ["red", "blue", "green", "yellow", "black", "white", "grey", "orange"]
PETS = ["cats", "dogs", "goldfish", "rabbits", "chickens", "parrots"]
DRINKS = ["coffee", "tea", "juice", "milk", "lemonade"]


def clock(hour: int) -> str:
    if hour == 12:
        return "noon"
    return f"{hour % 12 or 12} {'am' if hour < 12 else 'pm'}"


def yesno_record(rng: random.Random, answer: bool) -> Record:
    kind = rng.choice(["age", "hours", "team", "place", "count", "price", "colour", "habit"])
    a, _, _ = person(rng)
    b = rng.choice([n for n in FEMALE + MALE if n != a])
    if kind == "age":
        x, y = rng.sample(range(8, 70), 2)
        context = f"{a} is {x} years old and {b} is {y} years old."
        older = rng.random() < 0.5
        truth = (x > y) if older else (x < y)
        q_name, other = (a, b) if truth == answer else (b, a)
        question = f"Is {q_name} {'older' if older else 'younger'} than {other}?"
    elif kind == "hours":
        venue = rng.choice(VENUES)
        opens, closes = rng.randint(7, 10), rng.randint(16, 21)
        at = rng.randint(opens, closes - 1) if answer else rng.choice(
            [rng.randint(5, opens - 1), rng.randint(closes, 23)])
        context = f"The {venue} opens at {clock(opens)} and closes at {clock(closes)} every day."
        question = f"Is the {venue} open at {clock(at)}?"
    elif kind == "team":
        members = rng.sample([n for n in FEMALE + MALE if n != a], 4)
        team = rng.choice(TEAMS)
        context = f"The {team} team is made up of {', '.join(members[:3])} and {a}."
        who = rng.choice([a, *members[:3]]) if answer else members[3]
        question = f"Is {who} on the {team} team?"
    elif kind == "place":
        city = rng.choice(sorted(CITY_COUNTRY))
        country = CITY_COUNTRY[city]
        asked = country if answer else rng.choice(sorted(set(CITY_COUNTRY.values()) - {country}))
        context = f"{a} has lived in {city}, {country}, since moving there for work."
        question = f"Does {a} live in {asked}?"
    elif kind == "count":
        pet = rng.choice(PETS)
        n = rng.randint(3, 9)
        more = rng.random() < 0.5
        m = (rng.randint(2, n - 1) if answer else rng.randint(n, n + 4)) if more else (
            rng.randint(n + 1, n + 5) if answer else rng.randint(2, n))
        context = f"{a} keeps {n} {pet} in the garden."
        question = f"Does {a} have {'more' if more else 'fewer'} than {m} {pet}?"
    elif kind == "price":
        item = rng.choice(ITEMS)
        price = rng.randint(15, 240)
        limit = rng.randint(price + 1, price + 60) if answer else rng.randint(max(1, price - 60), price)
        context = f"The {rng.choice(COLORS)} {item} in the shop window costs ${price}."
        question = f"Does the {item} cost less than ${limit}?"
    elif kind == "colour":
        item = rng.choice(ITEMS)
        colour, other = rng.sample(COLORS, 2)
        context = (f"{a} bought {article(colour)} {colour} {item} and {article(other)} {other} scarf "
                   "at the market.")
        question = f"Is the {item} {colour if answer else other}?"
    else:
        likes, dislikes = rng.sample(DRINKS, 2)
        context = f"{a} never drinks {dislikes}; {a} only drinks {likes}."
        question = f"Does {a} drink {likes if answer else dislikes}?"
    return {"context": context, "question": question, "expected": "yes" if answer else "no",
            "kind": kind}


def gen_yesno(rng: random.Random) -> list[Record]:
    groups = [unique(rng, 80, partial(yesno_record, answer=ans),
                     lambda x: x["context"] + x["question"]) for ans in (True, False)]
    return interleave(groups, rng)


# --------------------------------------------------------------------------- arithmetic

THINGS = ["apples", "stickers", "marbles", "pencils", "cookies", "books", "seashells", "cards",
          "balloons", "eggs", "cupcakes", "stamps", "shells", "buttons", "toy cars"]
CONTAINERS = ["boxes", "bags", "jars", "packs", "crates", "baskets"]


def arithmetic_record(rng: random.Random, two_ops: bool) -> Record:
    name, he, _ = person(rng)
    other = rng.choice([n for n in FEMALE + MALE if n != name])
    thing = rng.choice(THINGS)
    box = rng.choice(CONTAINERS)
    if not two_ops:
        op = rng.choice(["add", "sub", "mul", "div"])
        if op == "add":
            a, b = rng.randint(5, 90), rng.randint(3, 60)
            q = f"{name} has {a} {thing}. {cap(he)} buys {b} more. How many {thing} does {name} have now?"
            eq = f"{a} + {b}"
        elif op == "sub":
            a = rng.randint(20, 120)
            b = rng.randint(2, a - 1)
            q = (f"{name} had {a} {thing} and gave {b} of them to {other}. "
                 f"How many {thing} does {name} have left?")
            eq = f"{a} - {b}"
        elif op == "mul":
            a, b = rng.randint(2, 12), rng.randint(3, 15)
            q = f"There are {a} {box} with {b} {thing} in each. How many {thing} are there in total?"
            eq = f"{a} * {b}"
        else:
            b, each = rng.randint(2, 9), rng.randint(2, 12)
            q = (f"{name} shares {b * each} {thing} equally among {b} friends. "
                 f"How many {thing} does each friend get?")
            eq = f"{b * each} / {b}"
    else:
        op = rng.choice(["add_sub", "mul_sub", "mul_add", "add_div", "wage"])
        if op == "add_sub":
            a, b = rng.randint(10, 80), rng.randint(5, 40)
            c = rng.randint(2, a + b - 1)
            q = (f"{name} had {a} {thing}. {cap(he)} found {b} more and then gave {c} to {other}. "
                 f"How many {thing} does {name} have now?")
            eq = f"{a} + {b} - {c}"
        elif op == "mul_sub":
            a, b = rng.randint(2, 9), rng.randint(4, 12)
            c = rng.randint(1, a * b - 1)
            q = (f"{name} bought {a} {box} of {thing} with {b} in each. {cap(he)} used {c} of them. "
                 f"How many {thing} are left?")
            eq = f"{a} * {b} - {c}"
        elif op == "mul_add":
            a, b, c = rng.randint(2, 9), rng.randint(4, 12), rng.randint(1, 20)
            q = (f"A shop has {a} {box} of {thing} with {b} in each, plus {c} loose {thing}. "
                 f"How many {thing} does the shop have?")
            eq = f"{a} * {b} + {c}"
        elif op == "add_div":
            b, each = rng.randint(2, 8), rng.randint(3, 12)
            c = rng.randint(1, b * each - 1)
            a = b * each - c
            him = "her" if he == "she" else "him"
            q = (f"{name} has {a} {thing} and {other} gives {him} "
                 f"{c} more. {name} then splits them equally into {b} {box}. "
                 f"How many {thing} go in each of the {box}?")
            eq = f"({a} + {c}) / {b}"
        else:
            a, b = rng.randint(8, 25), rng.randint(3, 10)
            c = rng.randint(5, a * b - 1)
            q = (f"{name} earns ${a} an hour and works {b} hours. {cap(he)} then spends ${c} on groceries. "
                 f"How many dollars does {name} have left from that pay?")
            eq = f"{a} * {b} - {c}"
    value = evaluate(eq)
    return {"question": q, "expected": str(value), "equation": eq, "ops": 2 if two_ops else 1}


def evaluate(expression: str) -> int:
    """Evaluate our own + - * / expressions (integers only, exact division)."""
    import ast

    def walk(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp):
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if isinstance(node.op, ast.Div):
                if left % right:
                    raise ValueError(f"inexact division in {expression}")
                return left // right
        raise ValueError(f"unsupported expression {expression}")

    return walk(ast.parse(expression, mode="eval"))


def gen_arithmetic(rng: random.Random) -> list[Record]:
    groups = [unique(rng, 80, partial(arithmetic_record, two_ops=two), lambda x: x["question"])
              for two in (False, True)]
    return interleave(groups, rng)


# --------------------------------------------------------------------------- cot-arithmetic

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]


def long_date(d: dt.date) -> str:
    return f"{MONTHS[d.month - 1]} {d.day}, {d.year}"


def cot_story(rng: random.Random) -> Record:
    name, he, _ = person(rng)
    kind = rng.randrange(7)
    if kind == 0:
        a, b = rng.randint(3, 9), rng.randint(6, 24)
        c = rng.randint(5, a * b // 2)
        d = rng.randint(1, a * b - c - 1)
        q = (f"A bakery bakes {a} trays of {b} muffins. It sells {c} muffins in the morning and {d} in "
             f"the afternoon. How many muffins are left at the end of the day?")
        eq = f"{a} * {b} - {c} - {d}"
    elif kind == 1:
        a, p, b, r = rng.randint(2, 6), rng.randint(2, 9), rng.randint(2, 8), rng.randint(1, 4)
        bill = next(x for x in (20, 50, 100) if x > a * p + b * r)
        q = (f"{name} buys {a} notebooks at ${p} each and {b} pens at ${r} each. {cap(he)} pays with a "
             f"${bill} bill. How many dollars of change does {he} get?")
        eq = f"{bill} - ({a} * {p} + {b} * {r})"
    elif kind == 2:
        d = rng.randint(3, 6)
        a, b = rng.randint(3, 8), rng.randint(18, 30)
        c = (a * b) % d + d * rng.randint(0, 2)
        q = (f"A school has {a} classes with {b} students each. {c} students are absent, and the rest "
             f"are split into teams of {d}. How many teams are there?")
        eq = f"({a} * {b} - {c}) / {d}"
        if c == 0:
            q = q.replace("0 students are absent, and the rest are", "No students are absent; all are")
    elif kind == 3:
        a, b, c, d = rng.randint(10, 40), rng.randint(2, 7), rng.randint(15, 50), rng.randint(2, 7)
        q = (f"{name} reads {a} pages a day for {b} days, then {c} pages a day for {d} days. "
             f"How many pages does {he} read in total?")
        eq = f"{a} * {b} + {c} * {d}"
    elif kind == 4:
        d = rng.choice([6, 10, 12])
        a, b = rng.randint(5, 20), rng.randint(4, 7)
        c = (a * b) % d + d * rng.randint(1, 2)
        if c >= a * b:
            c = (a * b) % d
        q = (f"A farmer has {a} hens, and each hen lays {b} eggs a week. The family eats {c} eggs a week "
             f"and the rest are sold in cartons of {d}. How many cartons are sold each week?")
        eq = f"({a} * {b} - {c}) / {d}"
    elif kind == 5:
        a, b, c, d = rng.randint(9, 20), rng.randint(4, 8), rng.randint(2, 5), rng.randint(2, 6)
        e = rng.randint(3, 10)
        q = (f"Museum tickets cost ${a} for adults and ${b} for children. A group of {c} adults and {d} "
             f"children uses a coupon worth ${e}. How many dollars does the group pay?")
        eq = f"{a} * {c} + {b} * {d} - {e}"
    else:
        b, c = rng.randint(4, 12), rng.randint(5, 15)
        d = rng.randint(3, b * c // 2)
        a = b * c - d + rng.randint(10, 120)
        q = (f"A tank holds {a} litres. It is filled at {b} litres per minute for {c} minutes, and then "
             f"{d} litres leak out. How many more litres are needed to fill the tank?")
        eq = f"{a} - ({b} * {c} - {d})"
    return {"question": q, "expected": str(evaluate(eq)), "kind": "story", "equation": eq}


def cot_days(rng: random.Random) -> Record:
    year = rng.choice([2023, 2024, 2025])
    start = dt.date(year, 1, 1) + dt.timedelta(days=rng.randint(0, 300))
    end = start + dt.timedelta(days=rng.randint(12, 64))
    q = rng.choice([
        f"How many days after {long_date(start)} is {long_date(end)}?",
        f"A parcel was sent on {long_date(start)} and arrived on {long_date(end)}. "
        f"How many days did it take?",
        f"A trip starts on {long_date(start)} and the return flight is on {long_date(end)}. "
        f"How many days apart are the two dates?",
    ])
    return {"question": q, "expected": str((end - start).days), "kind": "days",
            "equation": f"days({start.isoformat()}, {end.isoformat()})"}


def gen_cot(rng: random.Random) -> list[Record]:
    groups = [unique(rng, 84, cot_story, lambda x: x["question"]),
              unique(rng, 36, cot_days, lambda x: x["question"])]
    return interleave(groups, rng)


# --------------------------------------------------------------------------- extract-json

JOBS = ["nurse", "carpenter", "chef", "teacher", "pilot", "engineer", "florist", "architect", "baker"]
CONTESTS = ["chess tournament", "pie contest", "half marathon", "poetry slam", "photo competition"]
UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty", 6: "sixty", 7: "seventy", 8: "eighty"}


def age_words(n: int) -> str:
    tens, unit = divmod(n, 10)
    return TENS[tens] + (f"-{UNITS[unit]}" if unit else "")


def extract_record(rng: random.Random) -> Record:
    first, he, his = person(rng)
    name = f"{first} {rng.choice(SURNAMES)}"
    age = rng.randint(20, 84)
    city, other_city = rng.sample(CITIES, 2)
    job = rng.choice(JOBS)
    templates = [
        ("easy", f"{name} is {age} years old and lives in {city}."),
        ("easy", f"Meet {name}, a {age}-year-old {job} from {city}."),
        ("easy", f"I'm {name}, I'm {age}, and I live in {city}."),
        ("medium", f"{city} resident {name}, {age}, won this year's {rng.choice(CONTESTS)}."),
        ("medium", f"After moving to {city} last spring, {name} celebrated turning {age}."),
        ("medium", f"Our new neighbour in {city} is {name}; {he} is {age} and works as a {job}."),
        ("hard", f"{name} is {age_words(age)} years old and has made {city} {his} home."),
        ("hard", f"{name} ({age}) commutes to {other_city} for work but lives in {city}."),
        ("hard", f"{name}, {age}, lives in {city} with {his} {rng.randint(2, 12)}-year-old daughter."),
        ("hard", f"Born in {other_city}, {name} now lives in {city} and turned {age} last week."),
    ]
    difficulty, sentence = rng.choice(templates)
    expected = json.dumps({"name": name, "age": age, "city": city}, ensure_ascii=False)
    return {"text": sentence, "expected": expected, "difficulty": difficulty}


def gen_extract(rng: random.Random) -> list[Record]:
    return unique(rng, 150, extract_record, lambda x: x["text"])


# --------------------------------------------------------------------------- format

SUBJECT_ADJECTIVES: dict[str, list[str]] = {
    "coffee": ["hot", "bitter", "strong", "aromatic", "energising"],
    "winter": ["cold", "dark", "quiet", "snowy", "long"],
    "the ocean": ["vast", "deep", "salty", "restless", "blue"],
    "a library": ["quiet", "calm", "dusty", "welcoming", "useful"],
    "a desert": ["dry", "hot", "sandy", "silent", "empty"],
    "a city park": ["green", "shady", "lively", "peaceful", "open"],
    "a thunderstorm": ["loud", "bright", "wet", "sudden", "dramatic"],
    "bread": ["warm", "soft", "crusty", "fresh", "filling"],
    "a marathon": ["long", "tiring", "tough", "rewarding", "crowded"],
    "a kitten": ["small", "playful", "soft", "curious", "sleepy"],
    "autumn": ["cool", "golden", "crisp", "windy", "colourful"],
    "a train journey": ["slow", "scenic", "relaxing", "rhythmic", "long"],
}
TIPS: dict[str, list[str]] = {
    "sleeping better": ["Keep a regular bedtime", "Avoid screens late at night", "Keep the bedroom cool",
                        "Skip coffee after lunch", "Get daylight in the morning", "Wind down with a book"],
    "saving money": ["Track every expense", "Cook at home more often", "Cancel unused subscriptions",
                     "Set up an automatic transfer to savings", "Wait a day before big purchases",
                     "Compare prices before buying"],
    "learning a language": ["Practise a little every day", "Label things around your home",
                            "Watch films with subtitles", "Find a conversation partner",
                            "Learn the most common words first", "Read children's books"],
    "running a first 5k": ["Start with run-walk intervals", "Buy comfortable shoes",
                           "Rest between training days", "Warm up before each run",
                           "Increase distance slowly", "Drink water before you start"],
    "keeping houseplants alive": ["Check the soil before watering", "Give them enough light",
                                  "Use pots with drainage holes", "Wipe dust off the leaves",
                                  "Avoid cold draughts", "Repot when roots fill the pot"],
    "writing a cover letter": ["Address a real person", "Open with why you want the job",
                               "Match your skills to the advert", "Keep it to one page",
                               "Give one concrete achievement", "Proofread it twice"],
    "packing for a trip": ["Make a list first", "Roll clothes instead of folding",
                           "Pack a spare charger", "Keep documents in one pouch",
                           "Wear the bulkiest shoes", "Leave space for souvenirs"],
    "studying for an exam": ["Start a week early", "Test yourself often", "Take short breaks",
                             "Teach the topic to a friend", "Sleep well the night before",
                             "Do past papers"],
}
CATEGORIES: dict[str, list[str]] = {
    "fruits": ["apple", "banana", "mango", "pear", "cherry", "plum", "kiwi"],
    "colours": ["red", "blue", "green", "yellow", "purple", "orange", "pink"],
    "musical instruments": ["piano", "violin", "drum", "flute", "guitar", "trumpet", "cello"],
    "vegetables": ["carrot", "onion", "potato", "leek", "pepper", "spinach", "cabbage"],
    "farm animals": ["cow", "sheep", "goat", "pig", "horse", "duck", "hen"],
    "kitchen tools": ["knife", "whisk", "ladle", "grater", "spatula", "peeler", "sieve"],
    "sports": ["tennis", "rugby", "cycling", "rowing", "hockey", "golf", "swimming"],
    "weather words": ["rain", "snow", "fog", "hail", "wind", "sleet", "thunder"],
    "tree species": ["oak", "birch", "maple", "pine", "willow", "beech", "cedar"],
    "board games": ["chess", "checkers", "backgammon", "go", "ludo", "mahjong", "dominoes"],
}
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def describe_in(subject: str, adjectives: list[str], n: int) -> str:
    """A sentence about ``subject`` of exactly ``n`` words."""
    words = subject.split()
    base = len(words) + 1  # subject + "is"
    need = n - base
    if need < 1:
        raise ValueError(f"{subject!r} cannot be described in {n} words")
    # k adjectives joined with commas and "and" take k words, plus one for "and" when k >= 2.
    for k in range(1, len(adjectives) + 1):
        length = k + (1 if k >= 2 else 0)
        if length == need:
            chosen = adjectives[:k]
            break
        if length == need - 1:  # add "very" in front
            chosen = ["very " + adjectives[0], *adjectives[1:k]]
            break
    else:
        raise ValueError(f"{subject!r} cannot be described in {n} words")
    tail = chosen[0] if len(chosen) == 1 else ", ".join(chosen[:-1]) + " and " + chosen[-1]
    sentence = f"{cap(subject)} is {tail}."
    assert len(sentence.split()) == n, (sentence, n)
    return sentence


def format_record(rng: random.Random, kind: str) -> Record:
    if kind == "words":
        subject = rng.choice(sorted(SUBJECT_ADJECTIVES))
        adjectives = rng.sample(SUBJECT_ADJECTIVES[subject], 5)
        n = rng.randint(len(subject.split()) + 2, 8)
        request = rng.choice([
            f"Describe {subject} in exactly {n} words.",
            f"Write exactly {n} words about {subject}.",
            f"Using exactly {NUMBER_WORDS[n]} words, describe {subject}.",
        ])
        answer = describe_in(subject, adjectives, n)
    elif kind == "bullets":
        topic = rng.choice(sorted(TIPS))
        n = rng.randint(2, 5)
        request = rng.choice([
            f"Give exactly {n} tips for {topic}, as bullet points.",
            f"List {n} bullet points with advice on {topic}. No more, no less.",
            f"I need exactly {NUMBER_WORDS[n]} bullet-point tips for {topic}.",
        ])
        answer = "\n".join(f"- {tip}" for tip in rng.sample(TIPS[topic], n))
    elif kind == "numbered":
        category = rng.choice(sorted(CATEGORIES))
        n = rng.randint(3, 6)
        request = rng.choice([
            f"Name exactly {n} {category} as a numbered list.",
            f"Make a numbered list of {n} {category}.",
            f"List {NUMBER_WORDS[n]} {category}, numbered 1 to {n}.",
        ])
        answer = "\n".join(f"{i}. {cap(x)}" for i, x in enumerate(rng.sample(CATEGORIES[category], n), 1))
    else:
        category = rng.choice(sorted(CATEGORIES))
        n = rng.randint(3, 6)
        request = rng.choice([
            f"Name {n} {category} on one line, separated by commas.",
            f"Give me exactly {n} {category} as a single comma-separated line.",
            f"Write {NUMBER_WORDS[n]} {category}, comma separated, nothing else.",
        ])
        answer = ", ".join(rng.sample(CATEGORIES[category], n))
    return {"request": request, "expected": answer, "kind": kind, "n": n}


def gen_format(rng: random.Random) -> list[Record]:
    groups = [unique(rng, 30, partial(format_record, kind=k), lambda x: x["request"])
              for k in ("words", "bullets", "numbered", "commas")]
    return interleave(groups, rng)


# --------------------------------------------------------------------------- open-ended

BRANDS = ["Alder", "Brisk", "Cindra", "Dunmore", "Everly", "Fjell", "Gusto", "Halo", "Ivo", "Juniper",
          "Kestrel", "Loom", "Moss", "Nook", "Orla", "Pebble", "Quill", "Ridge", "Sable", "Tarn"]
PRODUCT_FEATURES: dict[str, list[str]] = {
    "travel mug": ["eight hours of heat retention", "a leak-proof lid", "a cup-holder-friendly base",
                   "dishwasher-safe parts", "a recycled steel body"],
    "hiking backpack": ["a 30-litre main pocket", "waterproof fabric", "a padded hip belt",
                        "a hydration sleeve", "a weight under 1 kg"],
    "desk lamp": ["adjustable colour temperature", "a USB charging port", "a touch dimmer",
                  "a fold-flat arm", "an energy-saving LED"],
    "Bluetooth speaker": ["a 20-hour battery", "a waterproof shell", "deep bass",
                          "a built-in microphone", "a clip for your bag"],
    "cast-iron pan": ["a pre-seasoned surface", "an induction-ready base", "oven safety up to 260°C",
                      "even heating", "a lifetime warranty"],
    "rain jacket": ["fully taped seams", "a pocket it packs into", "an adjustable hood",
                    "breathable fabric", "reflective trim"],
    "standing desk": ["electric height adjustment", "four memory presets", "a quiet motor",
                      "a cable tray", "a bamboo top"],
    "kids' bike": ["a light aluminium frame", "training wheels", "easy-grip brakes",
                   "an adjustable seat", "bright colours"],
    "yoga mat": ["a non-slip surface", "6 mm of cushioning", "a carry strap", "PVC-free material",
                 "printed alignment lines"],
    "smart thermostat": ["schedule learning", "app control", "monthly energy reports",
                         "voice-assistant support", "a ten-minute self-install"],
    "notebook": ["dotted pages", "a lay-flat binding", "bleed-resistant paper",
                 "numbered pages", "an elastic closure"],
    "coffee grinder": ["15 grind settings", "stainless steel burrs", "a quiet motor", "a built-in timer",
                       "a removable chamber for easy cleaning"],
}
AUDIENCES = ["busy commuters", "first-time campers", "students", "home cooks", "remote workers",
             "parents", "runners", "gift shoppers", "small offices", "people with small flats"]


def open_record(rng: random.Random) -> Record:
    kind = rng.choice(sorted(PRODUCT_FEATURES))
    product = f"{rng.choice(BRANDS)} {kind}"
    features = rng.sample(PRODUCT_FEATURES[kind], rng.choice([2, 3]))
    audience = rng.choice(AUDIENCES)
    listed = features[0] if len(features) == 1 else ", ".join(features[:-1]) + " and " + features[-1]
    reference = rng.choice([
        f"The {product} gives {audience} {listed}, all in one well-made package.",
        f"Made for {audience}, the {product} comes with {listed}.",
        f"With {listed}, the {product} is an easy choice for {audience}.",
        f"Thanks to {listed}, {audience} will love the {product}.",
    ])
    return {"product": product, "features": "; ".join(features), "audience": audience,
            "expected": reference}


def gen_open(rng: random.Random) -> list[Record]:
    return unique(rng, 120, open_record, lambda x: x["product"] + x["features"] + x["audience"])


# --------------------------------------------------------------------------- main

GENERATORS: dict[str, Callable[[random.Random], list[Record]]] = {
    "sentiment": gen_sentiment,
    "intent": gen_intent,
    "topic": gen_topic,
    "yesno": gen_yesno,
    "arithmetic": gen_arithmetic,
    "cot-arithmetic": gen_cot,
    "extract-json": gen_extract,
    "format": gen_format,
    "open-ended": gen_open,
}


def render(task: str) -> str:
    rng = random.Random(f"{SEED}:{task}")
    records = GENERATORS[task](rng)
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def write_all(out: Path, tasks: list[str] | None = None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for task in tasks or list(GENERATORS):
        text = render(task)
        target = out / task / "data.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="\n")
        counts[task] = text.count("\n")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=HERE,
                        help="folder to write <task>/data.jsonl into (default: beside this script)")
    parser.add_argument("--tasks", help="comma-separated subset of: " + ", ".join(GENERATORS))
    args = parser.parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",")] if args.tasks else None
    unknown = sorted(set(tasks or []) - set(GENERATORS))
    if unknown:
        parser.error(f"unknown task {unknown[0]!r}")
    for task, n in write_all(args.out, tasks).items():
        print(f"{task:16} {n:4} examples -> {args.out / task / 'data.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
