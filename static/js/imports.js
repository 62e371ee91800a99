// Import progress: poll the batch's small JSON endpoint and move the bar; reload when it is done.
(function () {
  "use strict";
  var box = document.querySelector("[data-progress-url]");
  if (!box) { return; }
  var url = box.getAttribute("data-progress-url");
  var bar = box.querySelector("[data-progress-bar]");
  var rows = box.querySelector("[data-progress-rows]");
  var wrapper = box.querySelector("[role=progressbar]");
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (p) {
        bar.style.width = p.percent + "%";
        bar.textContent = p.percent + " %";
        wrapper.setAttribute("aria-valuenow", p.percent);
        if (rows && p.rows_done) { rows.textContent = p.rows_done.toLocaleString() + (p.rows_total ? " / " + p.rows_total.toLocaleString() : ""); }
        if (p.finished) { window.location.reload(); } else { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
