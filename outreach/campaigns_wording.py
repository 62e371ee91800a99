"""The wording shipped with Regulars: one warm, short note per campaign kind and language.

A campaign's own ``CampaignTemplate`` for a language wins; these fill the gaps. Placeholders
(all optional): ``{first_name}``, ``{visits}``, ``{months_since}``, ``{favourite_store}``,
``{last_purchase}``, ``{staff}``, ``{store}``. An unknown placeholder is left as typed.

The shops' rules are in the words: a thank-you only thanks (no offer); a win-back says the
person was missed and never asks why they left.
"""

# (subject, body) by kind, then language.
DEFAULT_WORDING: dict[str, dict[str, tuple[str, str]]] = {
    "thank_you": {
        "en": (
            "Thank you, {first_name}",
            "Dear {first_name},\nthank you for coming to see us so often — {visits} visits this year. "
            "Having you with us at {favourite_store} is a real pleasure.\nWith warm thanks, {staff} and the team",
        ),
        "ru": (
            "Спасибо вам, {first_name}!",
            "Здравствуйте, {first_name}!\nСпасибо, что так часто заходите к нам. "
            "Нам по-настоящему приятно видеть вас снова и снова.\nС теплом, {staff} и вся команда {favourite_store}",
        ),
        "uz": (
            "Rahmat, {first_name}!",
            "Hurmatli {first_name},\nbizga tez-tez kelib turganingiz uchun katta rahmat! "
            "Siz kabi mijozlarimiz borligidan juda xursandmiz.\nHurmat bilan, {staff} va {favourite_store} jamoasi",
        ),
        "fa": (
            "{first_name} عزیز، سپاسگزاریم",
            "{first_name} عزیز،\nاز اینکه همیشه به ما سر می‌زنید صمیمانه سپاسگزاریم. "
            "حضور شما برای ما بسیار ارزشمند است.\nبا احترام، {staff} و همکاران در {favourite_store}",
        ),
        "bg": (
            "Благодарим ви, {first_name}!",
            "Здравейте, {first_name}!\nБлагодарим ви, че се отбивате при нас толкова често — {visits} посещения "
            "тази година. Винаги се радваме да ви видим в {favourite_store}.\nС топли поздрави, {staff} и екипът",
        ),
        "tl": (
            "Salamat po, {first_name}!",
            "Magandang araw po, {first_name}!\nMaraming salamat sa madalas ninyong pagdalaw — {visits} beses na "
            "ngayong taon. Lagi kaming natutuwa kapag nakikita namin kayo sa {favourite_store}.\n"
            "Taos-pusong pasasalamat, {staff} at ang buong team",
        ),
    },
    "win_back": {
        "en": (
            "We miss you, {first_name}",
            "Dear {first_name},\nwe have missed you! It has been {months_since} months, and the shop is not "
            "quite the same without you. We would love to see you again — a small gift is waiting for you.\n"
            "Warm wishes, {staff} and the team at {favourite_store}",
        ),
        "ru": (
            "{first_name}, мы скучаем!",
            "Здравствуйте, {first_name}!\nНам вас не хватает. Будем очень рады снова видеть вас у нас — "
            "вас ждёт небольшой подарок.\nС теплом, {staff} и команда {favourite_store}",
        ),
        "uz": (
            "{first_name}, sizni sog'indik!",
            "Hurmatli {first_name},\nsizni sog'indik! Do'konimizga yana kelsangiz, juda xursand bo'lamiz — "
            "sizni kichik sovg'a kutmoqda.\nHurmat bilan, {staff} va {favourite_store} jamoasi",
        ),
        "fa": (
            "{first_name} عزیز، دلمان برایتان تنگ شده",
            "{first_name} عزیز،\nدلمان برایتان تنگ شده است! خوشحال می‌شویم دوباره شما را در فروشگاه ببینیم — "
            "هدیه‌ای کوچک منتظر شماست.\nبا مهر، {staff} و همکاران در {favourite_store}",
        ),
        "bg": (
            "{first_name}, липсвате ни!",
            "Здравейте, {first_name}!\nОтдавна не сме се виждали и ни липсвате. Ще се радваме да ви посрещнем "
            "отново — очаква ви малък подарък.\nС топли поздрави, {staff} и екипът на {favourite_store}",
        ),
        "tl": (
            "Na-miss namin kayo, {first_name}!",
            "Magandang araw po, {first_name}!\nMatagal-tagal na rin po kayong hindi nakadadalaw, at na-miss namin "
            "kayo. Sana po ay makabalik kayo — may munting regalo kaming nakahanda para sa inyo.\n"
            "Ingat po, {staff} at ang team ng {favourite_store}",
        ),
    },
    "birthday": {
        "en": (
            "Happy birthday, {first_name}!",
            "Dear {first_name},\nhappy birthday from all of us at {favourite_store}! We hope your day is full "
            "of good things. Drop in when you can — we would love to celebrate with you.\n{staff} and the team",
        ),
        "ru": (
            "{first_name}, с днём рождения!",
            "{first_name}, с днём рождения!\nВся команда {favourite_store} от души поздравляет вас. "
            "Заходите к нам — будем рады отметить этот день вместе с вами.\n{staff} и команда",
        ),
        "uz": (
            "{first_name}, tug'ilgan kuningiz muborak!",
            "Hurmatli {first_name},\ntug'ilgan kuningiz muborak! {favourite_store} jamoasi sizga sog'lik va "
            "baxt tilaydi. Kirib o'ting — siz bilan birga nishonlashdan xursand bo'lamiz.\n{staff} va jamoa",
        ),
        "fa": (
            "{first_name} عزیز، تولدتان مبارک!",
            "{first_name} عزیز،\nتولدتان مبارک! همه ما در {favourite_store} بهترین‌ها را برایتان آرزو می‌کنیم. "
            "هر وقت فرصت کردید سری به ما بزنید.\n{staff} و همکاران",
        ),
        "bg": (
            "Честит рожден ден, {first_name}!",
            "Здравейте, {first_name}!\nЧестит рожден ден от всички нас в {favourite_store}! Пожелаваме ви здраве "
            "и много усмивки. Отбийте се, когато можете — ще се радваме да празнуваме заедно.\n{staff} и екипът",
        ),
        "tl": (
            "Maligayang kaarawan, {first_name}!",
            "Hi {first_name}!\nMaligayang kaarawan po mula sa aming lahat sa {favourite_store}! Nawa'y puno ng "
            "saya ang araw ninyo. Dumaan po kayo kapag may oras — gusto namin kayong makasama sa pagdiriwang.\n"
            "{staff} at ang team",
        ),
    },
    "big_purchase": {
        "en": (
            "Thank you, {first_name}",
            "Dear {first_name},\nthank you for choosing us on {last_purchase}. We hope you enjoy it — and if "
            "there is anything we can do, just ask.\nWith thanks, {staff} and the team at {favourite_store}",
        ),
        "ru": (
            "Спасибо за покупку, {first_name}!",
            "Здравствуйте, {first_name}!\nСпасибо, что выбрали нас {last_purchase}. Надеемся, покупка будет "
            "радовать вас. Если что-то понадобится — мы рядом.\nС благодарностью, {staff} и команда {favourite_store}",
        ),
        "uz": (
            "Xaridingiz uchun rahmat, {first_name}!",
            "Hurmatli {first_name},\n{last_purchase} kuni bizni tanlaganingiz uchun rahmat! Xaridingiz sizga "
            "yoqadi degan umiddamiz.\nMinnatdorchilik bilan, {staff} va {favourite_store} jamoasi",
        ),
        "fa": (
            "{first_name} عزیز، از خرید شما سپاسگزاریم",
            "{first_name} عزیز،\nاز اینکه در {last_purchase} ما را انتخاب کردید سپاسگزاریم. امیدواریم از آن "
            "لذت ببرید.\nبا سپاس، {staff} و همکاران در {favourite_store}",
        ),
        "bg": (
            "Благодарим за покупката, {first_name}!",
            "Здравейте, {first_name}!\nБлагодарим ви, че избрахте нас на {last_purchase}. Надяваме се покупката "
            "да ви радва дълго, а ако имате нужда от нещо — просто ни кажете.\n"
            "С благодарност, {staff} и екипът на {favourite_store}",
        ),
        "tl": (
            "Salamat sa inyong pamimili, {first_name}!",
            "Magandang araw po, {first_name}!\nSalamat po sa pagpili sa amin noong {last_purchase}. Sana po ay "
            "magustuhan ninyo ito — at kung may kailangan kayo, sabihan lang po kami.\n"
            "Salamat muli, {staff} at ang team ng {favourite_store}",
        ),
    },
    "new_arrivals": {
        "en": (
            "Something new for you, {first_name}",
            "Dear {first_name},\nsomething new has just arrived that made us think of you. Come and have a "
            "look before anyone else.\n{staff} at {favourite_store}",
        ),
        "ru": (
            "{first_name}, у нас новинки!",
            "Здравствуйте, {first_name}!\nК нам только что поступили новинки, и мы сразу подумали о вас. "
            "Приходите посмотреть первыми!\n{staff}, {favourite_store}",
        ),
        "uz": (
            "{first_name}, yangi mahsulotlar keldi!",
            "Hurmatli {first_name},\ndo'konimizga yangi mahsulotlar keldi va biz darhol sizni esladik. "
            "Hammadan oldin ko'rib ketish uchun kelib o'ting!\n{staff}, {favourite_store}",
        ),
        "fa": (
            "{first_name} عزیز، کالای تازه رسیده",
            "{first_name} عزیز،\nکالاهای تازه‌ای رسیده که ما را یاد شما انداخت. پیش از همه بیایید و ببینید!\n"
            "{staff}، {favourite_store}",
        ),
        "bg": (
            "{first_name}, имаме нещо ново за вас",
            "Здравейте, {first_name}!\nТъкмо пристигнаха нови неща и веднага се сетихме за вас. Заповядайте "
            "да ги разгледате първи!\n{staff}, {favourite_store}",
        ),
        "tl": (
            "{first_name}, may bago kami para sa inyo!",
            "Hi {first_name}!\nKararating lang po ng mga bagong paninda at kayo agad ang naisip namin. Dumaan "
            "po kayo para kayo ang maunang makakita!\n{staff}, {favourite_store}",
        ),
    },
    "manual": {
        "en": (
            "A note from {favourite_store}",
            "Dear {first_name},\nthank you for being one of us at {favourite_store}. We hope to see you again "
            "soon.\n{staff} and the team",
        ),
        "ru": (
            "Письмо от {favourite_store}",
            "Здравствуйте, {first_name}!\nСпасибо, что вы с нами. Будем рады скорой встрече!\n"
            "{staff} и команда {favourite_store}",
        ),
        "uz": (
            "{favourite_store}dan maktub",
            "Hurmatli {first_name},\nbiz bilan ekaningiz uchun rahmat. Tez orada yana ko'rishamiz degan "
            "umiddamiz!\n{staff} va {favourite_store} jamoasi",
        ),
        "fa": (
            "نامه‌ای از {favourite_store}",
            "{first_name} عزیز،\nاز اینکه همراه ما هستید سپاسگزاریم. امیدواریم به زودی دوباره شما را ببینیم.\n"
            "{staff} و همکاران در {favourite_store}",
        ),
        "bg": (
            "Поздрави от {favourite_store}",
            "Здравейте, {first_name}!\nБлагодарим ви, че сте с нас. Надяваме се скоро да се видим отново!\n"
            "{staff} и екипът на {favourite_store}",
        ),
        "tl": (
            "Mensahe mula sa {favourite_store}",
            "Magandang araw po, {first_name}!\nSalamat po at kasama namin kayo sa {favourite_store}. Sana po ay "
            "magkita tayo ulit sa lalong madaling panahon!\n{staff} at ang team",
        ),
    },
}

SHIPPED_LANGUAGES = ("en", "ru", "uz", "fa", "bg", "tl")


class _Placeholders(dict):
    """format_map helper: an unknown {placeholder} stays as typed instead of raising."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def wording_render(text: str, values: dict[str, object]) -> str:
    """Fill ``{placeholders}`` in ``text``; braces that are not placeholders survive."""
    try:
        return text.format_map(_Placeholders({k: "" if v is None else v for k, v in values.items()}))
    except (ValueError, IndexError):
        # A stray "{" or "{0}" in a manager's text: show it as written rather than fail the queue.
        return text


def default_wording(kind: str, language: str) -> tuple[str, str] | None:
    return DEFAULT_WORDING.get(kind, {}).get(language)
