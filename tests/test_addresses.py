"""The address normaliser and the free-text line parser, on lines as utilities and operators write them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.addresses import (
    SIDE_END,
    HouseRange,
    StreetHouses,
    canonical_street,
    group_by_street,
    house_key,
    house_number,
    load_street_tables,
    parse_address_line,
    render_addresses,
    render_street_houses,
    split_street,
    street_houses_dict,
    street_key,
)
from gateway.errors import ConfigError

R = HouseRange
EVEN, ODD = "even", "odd"


def sh(street, houses=(), ranges=(), whole=False, note=None):
    return StreetHouses(street, tuple(houses), tuple(ranges), whole, note)


PARSED = [
    ("вул. Соборності, 12–28 (парні)", [sh("вул. Соборності", ranges=[R(12, 28, EVEN)])]),
    ("вул. Соборності, 12-28 (парні)", [sh("вул. Соборності", ranges=[R(12, 28, EVEN)])]),
    ("вул. Соборності, 12−28 парна сторона", [sh("вул. Соборності", ranges=[R(12, 28, EVEN)])]),
    ("вул. Соборності, 13—27 (непарні)", [sh("вул. Соборності", ranges=[R(13, 27, ODD)])]),
    ("вул. Соборності, непарна сторона 13–27", [sh("вул. Соборності", ranges=[R(13, 27, ODD)])]),
    (
        "вул. Соборності, 12–28 (парні), 13-27 (непарні)",
        [sh("вул. Соборності", ranges=[R(12, 28, EVEN), R(13, 27, ODD)])],
    ),
    ("вул. Соборності (парна сторона)", [sh("вул. Соборності", ranges=[R(1, SIDE_END, EVEN)])]),
    ("просп. Металургів, 5, 7, 9а", [sh("просп. Металургів", houses=["5", "7", "9а"])]),
    ("м-н Сонячний, буд. 1–15", [sh("м-н Сонячний", ranges=[R(1, 15)])]),
    ("мікрорайон Сонячний, б. 1-15", [sh("м-н Сонячний", ranges=[R(1, 15)])]),
    ("вул. Кобилянського, 120/1, 122", [sh("вул. Кобилянського", houses=["120/1", "122"])]),
    ("вулиця Героїв АТО 15-19", [sh("вул. Героїв АТО", ranges=[R(15, 19)])]),
    ("ВУЛИЦЯ ГЕРОЇВ АТО, БУД. 15", [sh("вул. Героїв АТО", houses=["15"])]),
    ("пров. Ковальський (весь)", [sh("пров. Ковальський", whole=True)]),
    ("провулок Ковальський – весь провулок", [sh("пров. Ковальський", whole=True)]),
    ("вул. Каткова, вся вулиця", [sh("вул. Каткова", whole=True)]),
    ("вул. Каткова", [sh("вул. Каткова", whole=True)]),
    ("вул. Героїв АТО", [sh("вул. Героїв АТО", whole=True)]),
    ("просп. 200-річчя Кривого Рогу", [sh("просп. 200-річчя Кривого Рогу", whole=True)]),
    (
        "вул. Соборності, 12; просп. Поштовий, 3; пров. Ковальський (весь)",
        [
            sh("вул. Соборності", houses=["12"]),
            sh("просп. Поштовий", houses=["3"]),
            sh("пров. Ковальський", whole=True),
        ],
    ),
    (
        "вул. Соборності, 12, вул. Кобилянського, 5",
        [sh("вул. Соборності", houses=["12"]), sh("вул. Кобилянського", houses=["5"])],
    ),
    ("вул. Соборності, 9 а, 9-А, 9а", [sh("вул. Соборності", houses=["9а"])]),
    ("вул. Соборності, 1-15, 17а, 21", [sh("вул. Соборності", houses=["17а", "21"], ranges=[R(1, 15)])]),
    ("вул. Соборності, 5 і 7", [sh("вул. Соборності", houses=["5", "7"])]),
    ("вул. Соборності, з 12 по 28", [sh("вул. Соборності", ranges=[R(12, 28)])]),
    ("вул. Соборності, 12 (під. 2), 14", [sh("вул. Соборності", houses=["12", "14"], note="під. 2")]),
    ("вул. Соборності, 12, під'їзди 1-3", [sh("вул. Соборності", houses=["12"], note="під'їзди 1-3")]),
    ("вул. Соборності, 12, стояк 3", [sh("вул. Соборності", houses=["12"], note="стояк 3")]),
    ("вул. Соборності, під. 2, 3, 14а", [sh("вул. Соборності", houses=["14а"], note="під. 2, 3")]),
    ("просп. 200-річчя Кривого Рогу, 5", [sh("просп. 200-річчя Кривого Рогу", houses=["5"])]),
    ("м-н Східний 1, буд. 5", [sh("м-н Східний-1", houses=["5"])]),
    ("м-н Всебратське-2, 7", [sh("м-н Всебратське-2", houses=["7"])]),
    ("вул. Дніпровське шосе 5", [sh("вул. Дніпровське шосе", houses=["5"])]),
    ("просп. Карла Маркса, 10", [sh("просп. Поштовий", houses=["10"])]),
    ("Соборності, 12", [sh("вул. Соборності", houses=["12"])]),
    ("вул. Будівельників, 3", [sh("вул. Будівельників", houses=["3"])]),
    ("пр. Металургів, 40/2", [sh("просп. Металургів", houses=["40/2"])]),
    ("вул. Соборності, 12 корп. 2", [sh("вул. Соборності", houses=["12/2"])]),
    (
        "вул. Соборності: 12–28 (парні), 31, 33а.",
        [sh("вул. Соборності", houses=["31", "33а"], ranges=[R(12, 28, EVEN)])],
    ),
]


@pytest.mark.parametrize(("line", "expected"), PARSED, ids=[p[0] for p in PARSED])
def test_parse_address_line(line, expected):
    assert parse_address_line(line) == expected


FAILURES = [
    ("", "names no street"),
    ("  ;  ", "names no street"),
    ("12-28", "no street name"),
    ("буд. 5, 7", "no street name"),
    ("вул. Соборності, біля школи", "cannot read 'біля школи'"),
    ("вул. Соборності, 28-12", "runs backwards"),
    ("вул. Соборності, 12 (котельня)", "cannot read 'котельня'"),
    ("вул. Соборності, 15а-19", "cannot read '15а-19'"),
    ("вул. Соборності 15а-19", "cannot read"),
    ("вул. Соборності, 5 7 9", "cannot read '5 7 9'"),
    ("вул. Соборності, 12 парні", "needs a range"),
    ("біля школи №5", "neither a street with a kind"),
    ("вул. Соборності, 12; 14", "no street name"),
]


@pytest.mark.parametrize(("line", "message"), FAILURES, ids=[f[0] or "empty" for f in FAILURES])
def test_unreadable_lines_raise_saying_what(line, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_address_line(line)


SAME_STREET = [
    ("вул. Соборності", "вулиця Соборності"),
    ("вул. Соборності", "СОБОРНОСТІ"),
    ("вул.Соборності", "вул. соборності"),
    ("просп. Металургів", "проспект Металургів"),
    ("просп. Металургів", "пр-т Металургів"),
    ("пров. Ковальський", "провулок Ковальський"),
    ("бульв. Вечірній", "бульвар Вечірній"),
    ("м-н Сонячний", "мкр Сонячний"),
    ("м-н Сонячний", "мікрорайон Сонячний"),
    ("м-н Східний-1", "мкрн. Східний 1"),
    ("вул. Дніпровське шосе", "шосе Дніпровське"),
    ("вул. Святогеоргіївська", "Святогеоргіївська"),
    ("вул. Зав'ялова", "вул. Зав’ялова"),
    ("вул. Зав'ялова", "вул. Завʼялова"),
    ("просп. Карла Маркса", "просп. Поштовий"),  # renamed 2016
    ("вул. Щорса", "вул. Тернівська"),  # renamed twice: Щорса -> Чайковського -> Тернівська
    ("вул. Героїв Антитерористичної операції", "вул. Героїв АТО"),  # other spelling
]


@pytest.mark.parametrize(("a", "b"), SAME_STREET)
def test_street_keys_equal(a, b):
    assert street_key(a) == street_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [("вул. Соборності", "вул. Кобилянського"), ("м-н Східний-1", "м-н Східний-2"), ("просп. Поштовий", "просп. Миру")],
)
def test_street_keys_differ(a, b):
    assert street_key(a) != street_key(b)


@pytest.mark.parametrize(
    ("written", "display"),
    [
        ("вулиця Соборності", "вул. Соборності"),
        ("ВУЛИЦЯ ГЕРОЇВ АТО", "вул. Героїв АТО"),
        ("просп. Карла Маркса", "просп. Поштовий"),
        ("вул. Чайковського", "вул. Тернівська"),
        ("мкр Східний 1", "м-н Східний-1"),
        ("вулиця нова садова", "вул. Нова Садова"),  # unknown street written in one case
        ("вул. Зав'ялова", "вул. Зав’ялова"),
        ("Невідома", "Невідома"),
    ],
)
def test_canonical_street(written, display):
    assert canonical_street(written) == display


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("9 А", "9а"),
        ("9-а", "9а"),
        ("9а", "9а"),
        ("9a", "9а"),  # Latin a
        ("буд. 9А", "9а"),
        ("б. 12", "12"),
        ("№ 12", "12"),
        ("12/1", "12/1"),
        ("12 / 1", "12/1"),
        ("12 корп. 1", "12/1"),
        ("12", "12"),
        ("гуртожиток", "гуртожиток"),
    ],
)
def test_house_key(written, key):
    assert house_key(written) == key


def test_house_number():
    assert house_number("120/1") == 120
    assert house_number("9-А") == 9
    assert house_number("гуртожиток") is None


def test_split_street_keeps_its_old_behaviour():
    assert split_street("вулиця Соборності") == ("вул.", "Соборності")
    assert split_street("Соборності") == (None, "Соборності")
    assert split_street("шосе") == (None, "шосе")


COVERS = [
    # (line, street, house, covered)
    ("вул. Соборності, 12–28 (парні)", "вулиця Соборності", "14", True),
    ("вул. Соборності, 12–28 (парні)", "вул. Соборності", "14а", True),
    ("вул. Соборності, 12–28 (парні)", "вул. Соборності", "15", False),  # other side
    ("вул. Соборності, 12–28 (парні)", "вул. Соборності", "30", False),  # past the range
    ("вул. Соборності, 12–28 (парні)", "вул. Кобилянського", "14", False),  # other street
    ("просп. Металургів, 5, 7, 9а", "просп. Металургів", "9 А", True),
    ("просп. Металургів, 5, 7, 9а", "просп. Металургів", "9б", False),  # other house
    ("просп. Металургів, 5, 7, 9а", "просп. Металургів", "9", False),
    ("просп. Карла Маркса, 10-20", "просп. Поштовий", "12", True),  # notice with the old name
    ("просп. Поштовий, 10-20", "проспект Карла Маркса", "12", True),  # request with the old name
    ("просп. Поштовий, 10-20", "просп. Миру", "12", False),
    ("пров. Ковальський (весь)", "провулок Ковальський", "99", True),
    ("вул. Соборності (непарна сторона)", "вул. Соборності", "101", True),
    ("вул. Соборності (непарна сторона)", "вул. Соборності", "100", False),
    ("вул. Кобилянського, 120/1", "вул. Кобилянського", "120/1", True),
    ("вул. Кобилянського, 120/1", "вул. Кобилянського", "120/2", False),
    ("вул. Соборності, 12 (під. 2)", "вул. Соборності", "2", False),  # an entrance is not a house
]


@pytest.mark.parametrize(("line", "street", "house", "covered"), COVERS)
def test_covers(line, street, house, covered):
    assert any(a.covers(street, house) for a in parse_address_line(line)) is covered


RENDERED = [
    (
        [sh("вул. Соборності", houses=["31", "33а"], ranges=[R(12, 28, EVEN)])],
        "вул. Соборності: 12–28 (парні), 31, 33а",
    ),
    ([sh("просп. Металургів", houses=["9а", "5", "7"])], "просп. Металургів: 5, 7, 9а"),
    ([sh("вул. Соборності", houses=["1", "2", "3", "4", "10"])], "вул. Соборності: 1–4, 10"),
    ([sh("вул. Соборності", houses=["31", "33", "35", "40"])], "вул. Соборності: 31–35 (непарні), 40"),
    ([sh("вул. Соборності", houses=["12", "14"])], "вул. Соборності: 12, 14"),
    ([sh("пров. Ковальський", whole=True)], "пров. Ковальський (весь провулок)"),
    ([sh("вул. Каткова", whole=True)], "вул. Каткова (вся вулиця)"),
    (
        [sh("вул. Соборності", ranges=[R(1, SIDE_END, EVEN), R(13, 27, ODD)])],
        "вул. Соборності: 13–27 (непарні), парна сторона",
    ),
    ([sh("вул. Соборності", houses=["12"], note="під. 2")], "вул. Соборності: 12 (під. 2)"),
    (
        [
            sh("просп. Карла Маркса", houses=["3"]),
            sh("вул. Соборності", houses=["5"]),
            sh("просп. Поштовий", houses=["1"]),
        ],
        "просп. Поштовий: 1, 3; вул. Соборності: 5",
    ),
]


@pytest.mark.parametrize(("items", "text"), RENDERED, ids=[r[1] for r in RENDERED])
def test_render(items, text):
    assert render_addresses(items) == text


def test_group_by_street_merges_old_and_new_names():
    grouped = group_by_street([sh("просп. Карла Маркса", houses=["3"]), sh("просп. Поштовий", ranges=[R(1, 9)])])
    assert grouped == [sh("просп. Поштовий", houses=["3"], ranges=[R(1, 9)])]


def test_street_houses_dict_is_plain_data():
    data = street_houses_dict(sh("вул. Соборності", houses=["31"], ranges=[R(12, 28, EVEN), R(1, SIDE_END, ODD)]))
    assert data == {
        "street": "вул. Соборності",
        "whole_street": False,
        "houses": ["31"],
        "ranges": [{"from": 12, "to": 28, "parity": "even"}, {"from": 1, "to": None, "parity": "odd"}],
        "note": None,
    }


house_numbers = st.integers(min_value=1, max_value=60)


@given(
    houses=st.lists(st.tuples(house_numbers, st.sampled_from(["", "а", "б"])), max_size=6),
    ranges=st.lists(
        st.tuples(house_numbers, st.integers(0, 20), st.sampled_from([None, EVEN, ODD])).map(
            lambda t: R(t[0], t[0] + t[1], t[2])
        ),
        max_size=3,
    ),
)
def test_rendered_text_parses_back_to_the_same_houses(houses, ranges):
    original = sh("вул. Соборності", houses=[f"{n}{letter}" for n, letter in houses], ranges=ranges)
    if not (original.houses or original.ranges):
        return
    (parsed,) = parse_address_line(render_street_houses(original))
    for number in range(1, 90):
        for letter in ("", "а", "б", "в"):
            house = f"{number}{letter}"
            assert parsed.covers("вул. Соборності", house) == original.covers("вул. Соборності", house), house


def test_renames_file_refuses_cycles_and_duplicates(tmp_path):
    cycle = tmp_path / "cycle.yaml"
    cycle.write_text('renames:\n  - {old: "вул. А", new: "вул. Б"}\n  - {old: "вул. Б", new: "вул. А"}\n', "utf-8")
    with pytest.raises(ConfigError, match="circle"):
        load_street_tables(cycle)
    twice = tmp_path / "twice.yaml"
    twice.write_text('renames:\n  - {old: "вул. А", new: "вул. Б"}\n  - {old: "вулиця А", new: "вул. В"}\n', "utf-8")
    with pytest.raises(ConfigError, match="renamed twice"):
        load_street_tables(twice)


def test_no_current_street_is_listed_as_an_old_name():
    from gateway.addresses import RENAMES_FILE, STREETS_FILE
    from gateway.yamlfile import load_yaml

    tables = load_street_tables(RENAMES_FILE, STREETS_FILE)
    for entry in load_yaml(STREETS_FILE):
        assert canonical_street(entry["street"]) == entry["street"]
    assert tables.renames  # the file was read


@given(
    st.one_of(
        st.text(max_size=60),
        st.lists(
            st.sampled_from(
                ["вул.", "Соборності", ",", ";", " ", "12", "-", "–", "(парні)", "а", "буд.", "під.", "весь", "/"]
            ),
            max_size=12,
        ).map("".join),
    )
)
def test_parser_raises_nothing_but_value_error(line):
    try:
        result = parse_address_line(line)
    except ValueError as exc:
        assert str(exc)
    else:
        assert result and all(isinstance(a, StreetHouses) and a.street for a in result)
