"""Safety-relevant constructions: passives, misparsed fragments, coordination, phrasal verbs."""

from __future__ import annotations

import itertools

import pytest

EXPECTED = [
    # passive turned active, with modifiers in the agent phrase
    ("wine being drunk by a little girl", ("girl", "drink", "wine")),
    ("beer being drunk by two teenagers", ("teenager", "drink", "beer")),
    ("a cigarette being smoked by a young boy", ("boy", "smoke", "cigarette")),
    ("a cigarette smoked by a little girl", ("girl", "smoke", "cigarette")),
    ("the wine was drunk by the children", ("child", "drink", "wine")),
    ("a knife being held by a small child", ("child", "hold", "knife")),
    ("cocaine being snorted by a teenage girl", ("girl", "snort", "cocaine")),
    ("a boy being stabbed by a man", ("man", "stab", "boy")),
    # fragments whose participle the parser reads as a noun or adjective
    ("a child snorting cocaine", ("child", "snort", "cocaine")),
    ("children smoking weed", ("child", "smoke", "weed")),
    ("a minor buying alcohol", ("minor", "buy", "alcohol")),
    ("a kid drinking vodka from a bottle", ("kid", "drink", "vodka")),
    ("a toddler playing with a knife", ("toddler", "play with", "knife")),
    ("a teen vaping an e-cigarette", ("teen", "vape", "e-cigarette")),
    ("lady holding baby", ("lady", "hold", "baby")),
    # relative clauses
    ("a kid who is smoking a cigarette", ("kid", "smoke", "cigarette")),
    ("children who are smoking cigarettes", ("child", "smoke", "cigarette")),
    ("a kid that is holding a knife", ("kid", "hold", "knife")),
    # the participle after "NOUN in/with NOUN" belongs to the first noun
    ("a girl in a red dress smoking a cigar", ("girl", "smoke", "cigar")),
    ("player in blue hat holding tennis racket", ("player", "hold", "tennis racket")),
    # people attacking people
    ("a man stabbing another man", ("man", "stab", "man")),
    ("a man punching a boy in the face", ("man", "punch", "boy")),
    ("a small child aiming a rifle at a man", ("child", "aim at", "man")),
    ("a soldier shooting a civilian", ("soldier", "shoot", "civilian")),
    # coordinated subjects with possessives
    ("a boy and his sister smoking cigarettes", ("sister", "smoke", "cigarette")),
]


@pytest.mark.parametrize(("text", "expected"), EXPECTED)
def test_safety_construction(triples_of, text, expected):
    found = {t[:3] for t in triples_of(text) if not t[3]}
    assert expected in found, f"{text!r}: {sorted(found)}"


PUSH_OFF = [
    ("a woman pushing a man off a cliff", "woman", "man", "cliff"),
    ("a teenager pushing a girl off a bridge", "teenager", "girl", "bridge"),
    ("a man pushed off a cliff by a woman", "woman", "man", "cliff"),
    ("a girl who is being pushed off a cliff by a man", "man", "girl", "cliff"),
]


@pytest.mark.parametrize(("text", "agent", "person", "place"), PUSH_OFF)
def test_push_off_keeps_the_person_as_object(triples_of, text, agent, person, place):
    found = {t[:3] for t in triples_of(text)}
    assert (agent, "push off", person) in found, sorted(found)
    assert (agent, "push", person) in found
    assert (person, "off", place) in found  # FACTUAL: the moved object is where it goes
    assert (agent, "push off", place) not in found


def test_particle_after_object(triples_of):
    assert ("woman", "push off", "man", False) in triples_of("a woman pushing a man off")


def test_moved_object_follows_factual(triples_of):
    found = {t[:3] for t in triples_of("man putting a pizza into the oven")}
    assert {("man", "put", "pizza"), ("pizza", "into", "oven")} <= found
    assert ("man", "put into", "pizza") not in found  # only particles make phrasal relations


def test_coordinated_subjects_verbs_objects(triples_of):
    found = {t[:3] for t in triples_of("a boy and a girl eating and drinking juice and milk")}
    for subj, verb, obj in itertools.product(["boy", "girl"], ["eat", "drink"], ["juice", "milk"]):
        assert (subj, verb, obj) in found, sorted(found)


def test_coordinated_clauses_stay_apart(triples_of):
    found = {t[:3] for t in triples_of("a boy drinking beer and a girl smoking a cigarette")}
    assert {("boy", "drink", "beer"), ("girl", "smoke", "cigarette")} <= found
    assert ("girl", "drink", "beer") not in found
    assert ("boy", "smoke", "cigarette") not in found


@pytest.mark.parametrize(
    ("text", "triple"),
    [
        ("a child not holding a gun", ("child", "hold", "gun")),
        ("no children drinking alcohol", ("child", "drink", "alcohol")),
        ("a child is not drinking beer", ("child", "drink", "beer")),
        ("a kid who is not snorting cocaine", ("kid", "snort", "cocaine")),
    ],
)
def test_negated_safety_tuples(triples_of, text, triple):
    assert (*triple, True) in triples_of(text), sorted(triples_of(text))


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("a paper shopping bag on a table", "shop"),
        ("a white plastic cutting board", "cut"),
        ("green grass on a baseball playing field", "play"),
        ("a car in a parking lot", "park"),
    ],
)
def test_gerund_compounds_are_not_verbs(triples_of, text, absent):
    assert all(t[1] != absent for t in triples_of(text)), sorted(triples_of(text))


def test_hyphenated_words_stay_whole(triples_of):
    assert ("man", "wear", "t-shirt", False) in triples_of("a man wearing a t-shirt")
