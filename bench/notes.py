"""Benchmark notes: queueing after segmentation, and task sheets against a minimal PDF floor, in one run.

    DATABASE_URL=postgres://regulars:regulars@127.0.0.1:5432/regulars_bench_notes \
        .venv/bin/python bench/notes.py --customers 200000

1. generates N customers with ~20 tickets each (bench/segments.py's COPY generator), consent for
   about 60 % (post) / 50 % (email), five writers per store;
2. times a full chain segmentation run (the baseline) and then ``notes_queue`` for a thank-you and a
   win-back campaign (with a gift voucher per note and a 10 % holdout) — target: queueing adds ≤ 30 %;
3. renders the task sheet of ``--sheet-notes`` (1,000) notes and, in the same process, a minimal
   one-block-per-page PDF with the same page count (the floor) — target: sheet ≤ 2 × floor;
4. measures the peak RSS of separate processes rendering 1× and 3× the notes (parts of 50 notes
   joined with pypdf) — target: under 400 MB, flat in the note count.

Nothing here runs in the test suite.
"""

import argparse
import datetime as dt
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DATABASE_URL", "postgres://regulars:regulars@127.0.0.1:5432/regulars_bench_notes")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
os.environ.pop("CELERY_BROKER_URL", None)  # every phase in process; email wake-ups run eagerly…
os.environ["EMAIL_URL"] = "dummymail://"  # …and go nowhere

AS_OF = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


def timed(label: str, fn, results: dict, repeat: int = 1):
    """Best of ``repeat`` runs, in CPU seconds of this process plus wall seconds (the machine is shared:
    other jobs inflate wall time, CPU time is what this code costs). Database time is wall-only."""
    best_cpu = best_wall = float("inf")
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        value = fn()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    results[label] = best_wall
    results[label + " cpu"] = best_cpu
    print(f"  {label:<44} {best_wall:8.2f} s wall {best_cpu:8.2f} s cpu", flush=True)
    return value


def prepare(customers: int) -> None:
    import segments as seg_bench
    from django.contrib.auth import get_user_model
    from django.db import connection

    from customers.models import Membership, Role, Store

    print(f"generating {customers} customers …", flush=True)
    with connection.cursor() as cur:
        # bench/segments.py's COPY predates the consent columns (Python-side defaults): give them
        # database defaults in this bench database only.
        for column in ("consent_email", "consent_post", "consent_sms", "do_not_contact"):
            cur.execute(f"ALTER TABLE customers_customer ALTER COLUMN {column} SET DEFAULT false")
    tickets = seg_bench.generate(customers)
    print(f"  {tickets} tickets", flush=True)
    with connection.cursor() as cur:
        cur.execute(
            """
            UPDATE customers_customer SET
              consent_post = (id % 10) < 6,
              consent_email = (id % 10) >= 5,
              email = CASE WHEN (id % 10) >= 5 THEN 'c' || id || '@example.test' ELSE '' END,
              postal_address = CASE WHEN (id % 20) < 19 THEN 'Qatortol ko''chasi ' || id || ', Toshkent' ELSE '' END,
              preferred_language = (ARRAY['uz','ru','en','fa'])[1 + id % 4]
            """
        )
    User = get_user_model()
    for store in Store.objects.all():
        for i in range(5):
            user, _ = User.objects.get_or_create(
                username=f"{store.code.lower()}-writer{i}", defaults={"first_name": f"Writer{i}"}
            )
            Membership.objects.get_or_create(user=user, store=store, defaults={"role": Role.STAFF})


def campaigns() -> list:
    from outreach.notes_models import Campaign, IncentiveKind

    Campaign.objects.all().delete()
    return [
        Campaign.objects.create(name="Thank the best", kind="thank_you"),
        Campaign.objects.create(
            name="We miss you", kind="win_back", incentive_kind=IncentiveKind.PERCENT, incentive_percent=15
        ),
    ]


def floor_pdf(pages: int) -> bytes:
    """The least a PDF with ``pages`` pages can cost in WeasyPrint: one short block per page."""
    from weasyprint import HTML

    body = "".join(f'<div style="page-break-after: always">Note {i}</div>' for i in range(pages))
    return HTML(string=f"<html><body>{body}</body></html>").write_pdf()


def same_text_pdf(document, pages: int) -> bytes:
    """The sheet's own text (names, addresses, why, context, wording, codes, signers) with no CSS at all,
    one plain block per page, as many pages as the sheet: what the words alone cost to lay out."""
    from django.utils.html import escape
    from weasyprint import HTML

    notes = [n for section in document.sections for n in section.notes]
    per_page = -(-len(notes) // pages)
    blocks = []
    for start in range(0, len(notes), per_page):
        text = []
        for n in notes[start : start + per_page]:
            fields = [n.recipient, n.address, n.why, n.context, n.wording, n.voucher_code, n.return_code]
            text.append(
                "<p>" + "<br>".join(escape(f) for f in fields if f) + "<br>" + " ".join(document.signers) + "</p>"
            )
        blocks.append('<div style="page-break-after: always">' + "".join(text) + "</div>")
    return HTML(string="<html><body>" + "".join(blocks) + "</body></html>").write_pdf()


def render_child(notes: int) -> None:
    """Child process: render ``notes`` open notes of the busiest store, print the peak RSS (MB)."""
    import django

    django.setup()
    from customers.models import Store
    from outreach.notes_models import Note, NoteChannel
    from outreach.notes_sheets import notes_sheet_pdf

    store = Store.objects.get(pk=_busiest_store())
    ids = list(
        Note.objects.filter(store=store, channel=NoteChannel.POST).order_by("pk").values_list("pk", flat=True)[:notes]
    )
    while len(ids) < notes:  # fewer notes than asked: print the same ones again
        ids += ids[: notes - len(ids)]
    pdf = b"".join(
        notes_sheet_pdf(notes=Note.objects.filter(pk__in=ids[i : i + 1000]), store=store, printed_on=AS_OF.date())
        for i in range(0, len(ids), 1000)
    )
    print(f"{_peak_rss_mb():.0f} {len(pdf)}")


def _peak_rss_mb() -> float:
    """This process's own high-water RSS. (ru_maxrss is not used: Linux carries it over from the
    forked parent across exec, so a child of a big bench process would report the parent's peak.)"""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _busiest_store() -> int:
    from django.db.models import Count

    from outreach.notes_models import Note, NoteChannel

    return (
        Note.objects.filter(channel=NoteChannel.POST)
        .values("store_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()["store_id"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--sheet-notes", type=int, default=1000)
    parser.add_argument("--reuse", action="store_true", help="Keep the existing data (skip the generator).")
    parser.add_argument(
        "--sheets-only", action="store_true", help="With --reuse and notes queued: only the rendering phases."
    )
    parser.add_argument("--skip-memory", action="store_true", help="Leave out the peak-RSS child processes.")
    parser.add_argument("--render-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.render_child:
        render_child(args.render_child)
        return

    import segments as seg_bench

    seg_bench.ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    from customers.models import Customer
    from outreach.notes import notes_queue
    from outreach.notes_models import HoldoutMember, Note
    from outreach.services import segments_refresh

    call_command("migrate", verbosity=0)
    if not args.reuse or not Customer.objects.exists():
        prepare(args.customers)
    results: dict[str, float] = {}
    print(f"customers: {Customer.objects.count()}", flush=True)
    import outreach.notes as notes_module
    from loyalty.models import Voucher

    if args.sheets_only and Note.objects.exists():
        sheets(args, results)
        return
    wakeups: list[int] = []
    # Publishing an email wake-up is a broker round trip in production; without a broker it would
    # *send* the email inline and time the mail backend instead of the queue. Count them instead.
    notes_module._dispatch_emails = wakeups.extend
    campaigns()
    best: dict[str, float] = {}
    for _attempt in range(2):  # best of two: the machine is shared
        Note.objects.all().delete()
        HoldoutMember.objects.all().delete()
        Voucher.objects.filter(source="gift").delete()
        wakeups.clear()
        timed(
            "segmentation (full, chain)",
            lambda: segments_refresh(store=None, as_of=AS_OF.date(), now=AS_OF, full=True),
            results,
        )
        run = timed("notes_queue (thank-you + win-back)", lambda: notes_queue(as_of=AS_OF), results)
        for key in list(results):
            best[key] = min(best.get(key, float("inf")), results[key])
    results.update(best)
    rerun = timed("notes_queue again (creates nothing)", lambda: notes_queue(as_of=AS_OF), results)
    print(
        f"  queued {run.created} notes, held out {run.held_out}, skipped {run.skipped}; rerun created {rerun.created}"
    )
    print(f"  counts: {run.counts}; email wake-ups: {len(wakeups)}")
    share = results["notes_queue (thank-you + win-back)"] / results["segmentation (full, chain)"]
    print(
        f"  best of two: segmentation {results['segmentation (full, chain)']:.2f} s, queue "
        f"{results['notes_queue (thank-you + win-back)']:.2f} s → queueing adds {share:.0%} (target ≤ 30 %)",
        flush=True,
    )

    sheets(args, results)


def sheets(args, results: dict) -> None:
    """Render the busiest store's first ``--sheet-notes`` notes, the floors, and the memory of separate processes."""
    from customers.models import Store
    from outreach.notes_models import Note, NoteChannel

    store = Store.objects.get(pk=_busiest_store())
    ids = list(
        Note.objects.filter(store=store, channel=NoteChannel.POST)
        .order_by("pk")
        .values_list("pk", flat=True)[: args.sheet_notes]
    )
    print(f"sheet: {len(ids)} notes of store {store.code}", flush=True)
    from io import BytesIO

    from pypdf import PdfReader

    from outreach.notes_sheets import notes_sheet_document
    from outreach.sheets import sheet_render_pdf

    document = notes_sheet_document(notes=Note.objects.filter(pk__in=ids), store=store, printed_on=AS_OF.date())
    pdf = timed("task sheet (parts of 50)", lambda: sheet_render_pdf(document=document), results, repeat=2)
    pages = len(PdfReader(BytesIO(pdf)).pages)
    timed(f"floor: one tiny block per page, {pages} pages", lambda: floor_pdf(pages), results, repeat=2)
    timed(f"same text, no CSS, {pages} pages", lambda: same_text_pdf(document, pages), results, repeat=2)
    for floor in (f"floor: one tiny block per page, {pages} pages", f"same text, no CSS, {pages} pages"):
        ratio = results["task sheet (parts of 50) cpu"] / results[floor + " cpu"]
        print(f"  sheet / {floor}: {ratio:.2f} (cpu; target ≤ 2)", flush=True)

    for n in () if args.skip_memory else (len(ids), 3 * len(ids)):
        out = subprocess.run(
            [sys.executable, __file__, "--render-child", str(n)], capture_output=True, text=True, check=True
        ).stdout.split()
        print(f"  peak RSS rendering {n} notes: {out[0]} MB (pdf {int(out[1]) // 1024} KB; target < 400 MB)")


if __name__ == "__main__":
    main()
