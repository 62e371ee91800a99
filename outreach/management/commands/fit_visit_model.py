"""python manage.py fit_visit_model [--as-of DATE] [--store CODE] [--unit days|weeks]."""

from django.core.management.base import BaseCommand, CommandError

from outreach.services import visit_model_fit

from ._segment_args import add_scope_arguments, parse_scope


class Command(BaseCommand):
    help = "Fit the BG/NBD visit model on the visits before --as-of and print r, alpha, a, b, log-likelihood."

    def add_arguments(self, parser):
        add_scope_arguments(parser)
        parser.add_argument("--unit", choices=["days", "weeks"], default="days")

    def handle(self, *args, **options):
        as_of, store = parse_scope(options)
        params = visit_model_fit(store=store, as_of=as_of, unit=options["unit"])
        if params is None:
            raise CommandError("Too few customers (or no repeat visit) to fit the model.")
        self.stdout.write(f"customers       {params.customers}")
        self.stdout.write(f"unit            {options['unit']}")
        self.stdout.write(f"r               {params.r:.4f}")
        self.stdout.write(f"alpha           {params.alpha:.4f}")
        self.stdout.write(f"a               {params.a:.4f}")
        self.stdout.write(f"b               {params.b:.4f}")
        self.stdout.write(f"log-likelihood  {params.log_likelihood:.4f}")
