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
    },
}

SHIPPED_LANGUAGES = ("en", "ru", "uz", "fa")


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
