from rest_framework.routers import SimpleRouter

from . import views

# invoices (invoice-list), invoices/upcoming (invoice-upcoming), invoices/<uuid:invoice_id>
# (invoice-detail), .../pdf (invoice-pdf); the same for credit-notes (credit-note-*).
# No trailing slashes. POST invoices/<uuid:invoice_id>/pay is billing's (it moves money).
router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("invoices", views.InvoiceViewSet, basename="invoice")
router.register("credit-notes", views.CreditNoteViewSet, basename="credit-note")

urlpatterns = router.urls
