"""A burst of contacts (500 emails of one campaign) asks the worker for one campaign-results refresh, not one
per email; a contact made while a refresh runs still gets a refresh of its own (nothing is left out).

The producer points at a private Redis so the queue holds only this test's messages.
"""

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from outreach.notes_models import CampaignKind
from outreach.tasks_dashboard import _DUE_KEY, campaign_results_refresh_later, campaign_results_refresh_task
from tests.processes import celery_broker, queued_tasks

from .notes_helpers import campaign

pytestmark = [pytest.mark.worker]

TASK = "outreach.campaign_results_refresh"


@pytest.mark.skipif(settings.CELERY_TASK_ALWAYS_EAGER, reason="needs a broker (make test sets CELERY_BROKER_URL)")
@pytest.mark.django_db(transaction=True)
def test_a_burst_of_contacts_queues_one_refresh_and_a_later_contact_another(private_redis):
    queue = redis.Redis(port=private_redis.port)
    thanks, win_back = campaign(CampaignKind.THANK_YOU), campaign(CampaignKind.WIN_BACK)
    cache.delete_many([_DUE_KEY.format(thanks.pk), _DUE_KEY.format(win_back.pk)])
    with celery_broker(private_redis.url):
        with transaction.atomic():  # rolled back: nothing asked for, nothing marked
            campaign_results_refresh_later([thanks.pk])
            transaction.set_rollback(True)
        assert queued_tasks(queue, TASK) == 0

        for _ in range(50):  # 50 emails sent, each in its own transaction
            with transaction.atomic():
                campaign_results_refresh_later([thanks.pk])
        assert queued_tasks(queue, TASK) == 1

        with transaction.atomic():  # another campaign is not held back by the first one's mark
            campaign_results_refresh_later([thanks.pk, win_back.pk])
        assert queued_tasks(queue, TASK) == 2

        campaign_results_refresh_task.run([thanks.pk])  # what the worker does: clear the mark, then read
        with transaction.atomic():
            campaign_results_refresh_later([thanks.pk])
        assert queued_tasks(queue, TASK) == 3
