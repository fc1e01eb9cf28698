// The customer site works without this file; it adds two conveniences.
(function () {
  // 1. Dates in the viewer's time zone: the server reads this cookie (web.middleware).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var current = (document.cookie.match(/(?:^|; )tz=([^;]*)/) || [])[1];
    if (zone && decodeURIComponent(current || "") !== zone) {
      document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* an old browser: dates stay in UTC */ }

  // 2. A second click while the first submission is on its way is not sent (the server
  //    would answer it with the first answer anyway: web.once).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.submitted) { event.preventDefault(); return; }
    form.dataset.submitted = "1";
    form.querySelectorAll("button[type=submit]").forEach(function (button) { button.setAttribute("aria-busy", "true"); });
  });
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form").forEach(function (form) { delete form.dataset.submitted; });
  });
})();
