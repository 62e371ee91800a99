// The "Refresh segments" progress bar: polls the run status while a refresh runs, then shows the new counts.
(function () {
  "use strict";
  var box = document.getElementById("segment-progress");
  if (!box) { return; }
  var url = box.getAttribute("data-status-url");
  var doneUrl = box.getAttribute("data-done-url");
  var after = box.getAttribute("data-after");  // id of the run before the button was pressed
  var running = box.getAttribute("data-running") === "1";
  var bar = box.querySelector(".js-progress-bar");
  var text = box.querySelector(".js-progress-text");
  var progress = box.querySelector(".progress");

  function show(percent) {
    box.classList.remove("d-none");
    bar.style.width = percent + "%";
    progress.setAttribute("aria-valuenow", String(percent));
    text.textContent = percent + " %";
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (run) {
        var isNew = after === "" || (run.id && run.id > parseInt(after, 10));
        if (run.status === "running" || !isNew) {
          if (run.status === "running") { show(run.percent); }
          window.setTimeout(poll, 1000);
        } else {
          show(100);
          window.location.assign(doneUrl);
        }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }

  var form = document.getElementById("segment-refresh-form");
  if (form) {
    form.addEventListener("submit", function () {
      show(0);
      form.querySelector("button").disabled = true;
    });
  }
  if (after !== "" || running) { poll(); }
})();
