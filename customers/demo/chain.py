"""The demo chain: stores, their staff, and who their customers are (names, cities, addresses, phones)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

UTC = dt.UTC

# --- The chain ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreSpec:
    code: str
    name: str
    address: str
    time_zone: str
    currency: str
    country: str
    locale: str
    region: str  # which name/city/address pool its customers come from
    manager: tuple[str, str, str]  # username, first name, last name
    staff: tuple[tuple[str, str, str], ...]
    weight: float = 1.0  # share of the customers


STORE_SPECS: tuple[StoreSpec, ...] = (
    StoreSpec(
        "CHZ",
        "Chilonzor",
        "Bunyodkor shoh ko'chasi 8, Chilonzor tumani, Toshkent 100115",
        "Asia/Tashkent",
        "UZS",
        "UZ",
        "uz",
        "uz",
        ("dilnoza", "Dilnoza", "Karimova"),
        (
            ("anna", "Anna", "Kim"),
            ("bekzod", "Bekzod", "Rahimov"),
            ("malika", "Malika", "Yusupova"),
            ("sardor", "Sardor", "Tursunov"),
            ("jasur", "Jasur", "Aliyev"),
        ),
        weight=1.6,
    ),
    StoreSpec(
        "YUN",
        "Yunusobod",
        "Amir Temur shoh ko'chasi 107, Yunusobod tumani, Toshkent 100084",
        "Asia/Tashkent",
        "UZS",
        "UZ",
        "uz",
        "uz",
        ("rustam", "Rustam", "Nazarov"),
        (
            ("kamola", "Kamola", "Ergasheva"),
            ("timur", "Timur", "Sokolov"),
            ("nilufar", "Nilufar", "Qodirova"),
            ("aziz", "Aziz", "Mirzayev"),
        ),
    ),
    StoreSpec(
        "THR",
        "Tajrish",
        "خیابان شریعتی، میدان تجریش، پلاک ۱۲، تهران ۱۹۷۳۸",
        "Asia/Tehran",
        "IRR",
        "IR",
        "fa",
        "ir",
        ("maryam", "Maryam", "Hosseini"),
        (
            ("reza", "Reza", "Karimi"),
            ("sara", "Sara", "Ahmadi"),
            ("ali", "Ali", "Rezaei"),
            ("neda", "Neda", "Moradi"),
        ),
    ),
    StoreSpec(
        "SOF",
        "Vitosha",
        "бул. „Витоша“ 42, 1000 София",
        "Europe/Sofia",
        "EUR",  # Bulgaria adopted the euro on 1 January 2026
        "BG",
        "bg",
        "bg",
        ("georgi", "Georgi", "Dimitrov"),
        (
            ("ivan", "Ivan", "Petrov"),
            ("elena", "Elena", "Georgieva"),
            ("petar", "Petar", "Nikolov"),
            ("desislava", "Desislava", "Ivanova"),
        ),
    ),
    StoreSpec(
        "MKT",
        "Makati",
        "G/F Glorietta 2, Ayala Center, Makati City, 1224 Metro Manila",
        "Asia/Manila",
        "PHP",
        "PH",
        "en",
        "ph",
        ("maria", "Maria", "Santos"),
        (
            ("jose", "Jose", "Reyes"),
            ("andrea", "Andrea", "Cruz"),
            ("mark", "Mark", "Bautista"),
            ("kristine", "Kristine", "Garcia"),
        ),
    ),
    StoreSpec(
        "SAM",
        "Samarqand Registon",
        "Registon ko'chasi 5, Samarqand 140100",
        "Asia/Samarkand",
        "UZS",
        "UZ",
        "uz",
        "uz",
        ("shahzod", "Shahzod", "Umarov"),
        (("gulnora", "Gulnora", "Saidova"), ("otabek", "Otabek", "Xolmatov"), ("zarina", "Zarina", "Abdullayeva")),
    ),
)

OWNER = ("olga", "Olga", "Ivanova")


def _store_spec(index: int) -> StoreSpec:
    """The index-th store: the hand-written ones first, then numbered Tashkent branches."""
    if index < len(STORE_SPECS):
        return STORE_SPECS[index]
    n = index + 1
    code = f"T{n:03d}"
    low = code.lower()
    return StoreSpec(
        code,
        f"Toshkent #{n}",
        f"Mustaqillik ko'chasi {n}, Toshkent 1000{n % 100:02d}",
        "Asia/Tashkent",
        "UZS",
        "UZ",
        "uz",
        "uz",
        (f"manager.{low}", "Manager", code),
        tuple((f"staff{i}.{low}", f"Staff {i}", code) for i in range(1, 5)),
    )


# fmt: off
# --- Who the customers are, per region --------------------------------------------------
# Each name is (as written in the shop's file, ASCII for the email address).


def _same(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((n, n.lower().replace("'", "").replace("ʻ", "")) for n in names)


@dataclass(frozen=True)
class Population:
    """A group of people a store's customers are drawn from."""

    language: str
    male: tuple[tuple[str, str], ...]
    female: tuple[tuple[str, str], ...]
    # Surnames: (male form, female form, ascii)
    surnames: tuple[tuple[str, str, str], ...]
    email_domains: tuple[str, ...] = ("example.com", "example.net", "example.org")


UZBEK = Population(
    "uz",
    _same(
        "Jasur", "Bekzod", "Sardor", "Aziz", "Otabek", "Sherzod", "Ulug'bek", "Javohir", "Doston", "Farrux",
        "Akmal", "Bobur", "Sanjar", "Rustam", "Islom", "Shoxrux", "Jamshid", "Anvar", "Temur", "Mirzo",
    ),
    _same(
        "Malika", "Dilnoza", "Nilufar", "Gulnora", "Kamola", "Zarina", "Madina", "Shahnoza", "Feruza", "Nodira",
        "Mohira", "Sevara", "Dildora", "Nigora", "Munisa", "Zilola", "Gulchehra", "Yulduz", "Barno", "Lola",
    ),
    tuple(
        (m, m + "a", m.lower().replace("'", ""))
        for m in (
            "Toshmatov", "Karimov", "Rahimov", "Yusupov", "Aliyev", "Tursunov", "Qodirov", "Ergashev", "Nazarov",
            "Mirzayev", "Saidov", "Umarov", "Xolmatov", "Abdullayev", "Rasulov", "Ismoilov", "Haydarov", "Sobirov",
            "Jo'rayev", "Normatov", "Usmonov", "Azimov", "Hamidov", "Sultonov",
        )
    ),
)
RUSSIAN = Population(
    "ru",
    _same("Aleksandr", "Dmitriy", "Sergey", "Andrey", "Mikhail", "Vladimir", "Pavel", "Igor", "Nikolay", "Artyom"),
    _same("Elena", "Olga", "Tatyana", "Natalya", "Irina", "Svetlana", "Anna", "Yekaterina", "Marina", "Yuliya"),
    tuple(
        (m, f, m.lower())
        for m, f in (
            ("Ivanov", "Ivanova"), ("Petrov", "Petrova"), ("Smirnov", "Smirnova"), ("Kuznetsov", "Kuznetsova"),
            ("Popov", "Popova"), ("Sokolov", "Sokolova"), ("Volkov", "Volkova"), ("Morozov", "Morozova"),
            ("Pak", "Pak"), ("Kim", "Kim"), ("Li", "Li"), ("Tsoy", "Tsoy"),
        )
    ),
)
PERSIAN = Population(
    "fa",
    (
        ("علی", "ali"), ("رضا", "reza"), ("محمد", "mohammad"), ("حسین", "hossein"), ("امیر", "amir"),
        ("مهدی", "mehdi"), ("سعید", "saeed"), ("کاوه", "kaveh"), ("بابک", "babak"), ("آرش", "arash"),
        ("پویا", "pouya"), ("نیما", "nima"),
    ),
    (
        ("مریم", "maryam"), ("سارا", "sara"), ("زهرا", "zahra"), ("فاطمه", "fatemeh"), ("نگار", "negar"),
        ("شیرین", "shirin"), ("پریسا", "parisa"), ("لیلا", "leila"), ("ندا", "neda"), ("مینا", "mina"),
        ("آزاده", "azadeh"), ("یاسمن", "yasaman"),
    ),
    tuple(
        (n, n, a)
        for n, a in (
            ("احمدی", "ahmadi"), ("حسینی", "hosseini"), ("محمدی", "mohammadi"), ("رضایی", "rezaei"),
            ("کریمی", "karimi"), ("موسوی", "mousavi"), ("جعفری", "jafari"), ("صادقی", "sadeghi"),
            ("مرادی", "moradi"), ("رحیمی", "rahimi"), ("تهرانی", "tehrani"), ("کاظمی", "kazemi"),
            ("نوری", "nouri"), ("قاسمی", "ghasemi"),
        )
    ),
)
BULGARIAN = Population(
    "bg",
    (
        ("Иван", "ivan"), ("Георги", "georgi"), ("Димитър", "dimitar"), ("Петър", "petar"), ("Николай", "nikolay"),
        ("Стоян", "stoyan"), ("Христо", "hristo"), ("Тодор", "todor"), ("Васил", "vasil"), ("Калоян", "kaloyan"),
    ),
    (
        ("Мария", "maria"), ("Елена", "elena"), ("Десислава", "desislava"), ("Йорданка", "yordanka"),
        ("Гергана", "gergana"), ("Ивелина", "ivelina"), ("Радост", "radost"), ("Цветелина", "tsvetelina"),
        ("Надежда", "nadezhda"), ("Теодора", "teodora"),
    ),
    tuple(
        (m, m + "а", a)
        for m, a in (
            ("Иванов", "ivanov"), ("Петров", "petrov"), ("Георгиев", "georgiev"), ("Димитров", "dimitrov"),
            ("Николов", "nikolov"), ("Стоянов", "stoyanov"), ("Христов", "hristov"), ("Тодоров", "todorov"),
            ("Колев", "kolev"), ("Ангелов", "angelov"), ("Маринов", "marinov"), ("Попов", "popov"),
        )
    ),
)
FILIPINO = Population(
    "tl",
    _same("Jose", "Juan", "Mark", "John Paul", "Angelo", "Rafael", "Miguel", "Carlo", "Paolo", "Jericho"),
    _same("Maria", "Andrea", "Kristine", "Angelica", "Jasmine", "Camille", "Patricia", "Nicole", "Joy", "Mae"),
    tuple(
        (n, n, n.lower().replace(" ", ""))
        for n in (
            "Santos", "Reyes", "Cruz", "Bautista", "Garcia", "Mendoza", "Ramos", "Aquino", "Villanueva",
            "Dela Cruz", "Castillo", "Navarro", "Fernandez", "Torres",
        )
    ),
)


# fmt: on


@dataclass(frozen=True)
class Region:
    """Where a store is: who its customers are, their cities, streets and phone numbers."""

    populations: tuple[tuple[Population, float], ...]
    cities: tuple[tuple[str, str, float], ...]  # city, postal code, weight
    streets: tuple[str, ...]
    phone_prefixes: tuple[str, ...]  # E.164 up to the last 7 digits
    address: Callable[[str, int, int, str, str], str]  # street, house, flat, city, postcode
    # Typical ticket (items × unit price) in the store's currency, and its rounding step.
    unit_price: float
    price_step: Decimal


# fmt: off
REGIONS: dict[str, Region] = {
    "uz": Region(
        ((UZBEK, 0.72), (RUSSIAN, 0.28)),
        (
            ("Toshkent", "1000", 0.86), ("Chirchiq", "1111", 0.05), ("Yangiyo'l", "1113", 0.04),
            ("Olmaliq", "1101", 0.03), ("Nurafshon", "1112", 0.02),
        ),
        (
            "Bunyodkor shoh ko'chasi", "Qatortol ko'chasi", "Lutfiy ko'chasi", "Amir Temur shoh ko'chasi",
            "Shota Rustaveli ko'chasi", "Mustaqillik ko'chasi", "Navoiy ko'chasi", "Bobur ko'chasi",
            "Farg'ona yo'li ko'chasi", "Chilonzor ko'chasi", "Muqimiy ko'chasi", "Olmazor ko'chasi",
        ),
        ("+99890", "+99891", "+99893", "+99894", "+99897", "+99899", "+99833"),
        lambda street, house, flat, city, post: f"{street} {house}, {flat}-xonadon, {city} {post}{house % 90 + 10}",
        75_000.0,
        Decimal("1000"),
    ),
    "ir": Region(
        ((PERSIAN, 1.0),),
        (("تهران", "19", 0.9), ("شمیران", "19", 0.06), ("کرج", "31", 0.04)),
        ("خیابان ولیعصر", "خیابان شریعتی", "خیابان فرمانیه", "خیابان پاسداران", "خیابان دربند", "بلوار میرداماد"),
        ("+98912", "+98935", "+98919", "+98901"),
        lambda street, house, flat, city, post: (
            f"{city}، {street}، پلاک {house}، واحد {flat}، کد پستی {post}{house:03d}"
        ),
        8_000_000.0,
        Decimal("10000"),
    ),
    "bg": Region(
        ((BULGARIAN, 1.0),),
        (("София", "1000", 0.85), ("Перник", "2300", 0.05), ("Банкя", "1320", 0.05), ("Самоков", "2000", 0.05)),
        ("бул. „Витоша“", "ул. „Граф Игнатиев“", "ул. „Шипка“", "бул. „Христо Ботев“", "ул. „Раковски“"),
        ("+35988", "+35987", "+35989"),
        lambda street, house, flat, city, post: f"{street} {house}, ап. {flat}, {post} {city}",
        9.5,
        Decimal("0.01"),
    ),
    "ph": Region(
        ((FILIPINO, 1.0),),
        (
            ("Makati City", "12", 0.55), ("Taguig City", "16", 0.2), ("Pasay City", "13", 0.15),
            ("Mandaluyong City", "15", 0.1),
        ),
        ("Ayala Avenue", "Paseo de Roxas", "Jupiter Street", "Kalayaan Avenue", "Pasong Tamo", "Dela Rosa Street"),
        ("+63917", "+63918", "+63927", "+63998"),
        lambda street, house, flat, city, post: (
            f"Unit {flat}, {house} {street}, {city}, {post}{house % 90 + 10} Metro Manila"
        ),
        350.0,
        Decimal("0.25"),
    ),
}

# fmt: on
