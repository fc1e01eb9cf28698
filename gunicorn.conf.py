"""gunicorn settings read from the project root (gunicorn loads ./gunicorn.conf.py by default);
command-line options override them.

The request line may be as long as gunicorn allows (8190 bytes; its default is 4094), so the
API's own limit, MAX_URL_BYTES (4096), answers long URLs with a 414 in the JSON envelope;
only a line past 8190 bytes gets gunicorn's HTML 414.
"""

limit_request_line = 8190
